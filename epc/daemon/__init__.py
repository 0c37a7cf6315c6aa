"""What every daemon shares: config loading (`config`), logging (`logs`) and the process
lifecycle (`lifecycle`: signals, sd_notify, ordered shutdown). A daemon's `main()` is one call
to `epc.daemon.lifecycle.run_daemon`."""
