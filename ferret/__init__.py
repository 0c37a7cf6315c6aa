"""FERRET: record a service's signaling at the core and replay it to edge gateways."""
