"""How the tooling starts notebook kernels (the course's runner, its tests, the demo's report)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def kernel_config() -> Any:
    """The configuration papermill (nbclient) starts notebook kernels with: over IPC, a socket file in a private
    temporary folder, instead of TCP on localhost (which ipykernel warns about on every start, since anything on
    the machine could connect)."""
    import tempfile

    from traitlets.config import Config

    config = Config()
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = str(Path(tempfile.mkdtemp(prefix="pipeline-kernel-")) / "kernel")
    return config
