"""`python -m pipeline ...`: the command line lives in `workbench` (the tooling); this hand-over is the one import of
it from `pipeline`, and the code package leaves this file out (workbench.deploy.package)."""

from workbench.cli import main

main()
