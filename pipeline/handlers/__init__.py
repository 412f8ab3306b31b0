"""Lambda entry points: thin functions that parse the event, call one function of the package and return.

Handler strings: `pipeline.handlers.ingest.<source>` and `pipeline.handlers.process.<source>`.
"""
