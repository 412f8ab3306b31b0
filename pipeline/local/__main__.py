"""`python -m pipeline.local up|down|status` (the same commands as `python -m pipeline local ...`)."""

from pipeline.local.cli import app

app()
