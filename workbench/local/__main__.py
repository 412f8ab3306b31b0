"""`python -m workbench.local up|down|status` (the same commands as `python -m pipeline local ...`)."""

from workbench.local.cli import app

app()
