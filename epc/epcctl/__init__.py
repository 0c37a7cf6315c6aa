"""`epcctl`: the operator's command for what the core keeps in its store.

Today that is the subscriber records (`epcctl subscriber add|import|list|show|remove`), the
HSS data the MME authenticates UEs against, at `/<deployment>/subscribers/<imsi>`. It reads
the `deployment` and `[store]` of any daemon's config file, so it works on the store that
daemon uses.

Layout: `cli` parses the command line, loads the config and turns every failure into one
line on stderr and an exit code; `subscribers` holds the commands themselves, each a
coroutine on an open store.
"""
