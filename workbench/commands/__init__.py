"""The commands of `python -m pipeline`, a module per group (`common` holds what they share); `workbench.cli`
mounts them on the one command line, with `workbench.deploy.cli`, `workbench.local.cli` and `workbench.course_cli`.
"""
