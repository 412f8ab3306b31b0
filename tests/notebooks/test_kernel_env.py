"""The course's kernel keeps the handlers' JSON logs out of a learner's cells: a notebook that runs the pipeline in
JupyterLab (`make lab`, or any front end that starts the "Python (market-data-pipeline)" kernel) shows warnings and
errors only, as the committed outputs do."""

from __future__ import annotations

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import start_new_kernel

pytestmark = pytest.mark.notebook


def test_the_course_kernel_sets_the_handlers_log_level_to_warning() -> None:
    spec = KernelSpecManager().get_kernel_spec("market-data-pipeline")
    assert spec.env.get("POWERTOOLS_LOG_LEVEL") == "WARNING"


def test_a_handler_run_in_the_course_kernel_logs_nothing_at_info() -> None:
    manager, client = start_new_kernel(kernel_name="market-data-pipeline")
    try:
        code = (
            "from aws_lambda_powertools import Logger\n"
            "Logger(service='ingest').info('ingested')\n"
            "Logger(service='ingest').warning('a warning')\n"
        )
        seen: list[str] = []

        def output(msg: dict) -> None:  # what the cell shows: its streams (the logs go to stdout or stderr)
            if msg["msg_type"] == "stream":
                seen.append(msg["content"]["text"])

        client.execute_interactive(code, output_hook=output, timeout=60)
        assert not any("ingested" in text for text in seen)
        assert any("a warning" in text for text in seen)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
