"""The ECHO agent: the necessarily-reliable entry point that runs beside the eNB."""
