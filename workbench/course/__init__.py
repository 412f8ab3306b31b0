"""The course's code: what the notebooks import (`from workbench.course import ...`), in a folder of its own.

- `bootstrap`: the setup cell's `check_environment`, the rewind of the simulated state, `try_live`, and the
  values a notebook records for its test (`record`, `recorded`);
- `exercises`: the framework of the "Your turn" cells (`exercise`, `check`, `verdict`, `NotYet`, `Verdict`);
- `chapter01` ... `chapter09`: each chapter's checkers (imported here, so every exercise is registered); `capstone`
  the fourth source's feed, sink, entry points and wiring (notebook 09);
- `sizes`: the measured sizes and import times notebook 06 shows, and the command that records them;
- `runner`: `make notebooks`, which re-executes the notebooks and keeps their answers hidden.
"""

from __future__ import annotations

from workbench.course import (  # noqa: F401 (imported for the checkers they register)
    chapter01,
    chapter02,
    chapter03,
    chapter04,
    chapter05,
    chapter06,
    chapter07,
    chapter08,
    chapter09,
)
from workbench.course.bootstrap import (
    COURSE_PACKAGES,
    RECORD_MIME,
    RECORD_TAG,
    Environment,
    check_environment,
    env_name,
    plain_rich_output,
    project_root,
    record,
    recorded,
    rewind_simulated_state,
    try_live,
)
from workbench.course.chapter03 import publishes
from workbench.course.chapter04 import BATCH, fifo_reported
from workbench.course.chapter07 import resources_created
from workbench.course.exercises import (
    EXERCISES,
    Exercise,
    NotYet,
    Verdict,
    check,
    exercise,
    is_stub,
    results,
    verdict,
)
from workbench.course.runner import (
    KERNEL,
    NOTEBOOK_TIMEOUT_SECONDS,
    SOLUTION_FIRST_LINE,
    SOLUTION_TAG,
    answer_problems,
    coalesced_streams,
    course_notebooks,
    execute_notebook,
    hide_solutions,
    output_problems,
    output_texts,
    refresh_notebooks,
)
from workbench.course.sizes import (
    HEAVIEST_OPTIONAL,
    IMPORT_TIMES,
    LAYER_SIZES,
    measured_function_sizes,
    measured_import_times,
    measured_layer_sizes,
    record_layer_sizes,
)
from workbench.kernel import kernel_config

__all__ = [
    "BATCH",
    "COURSE_PACKAGES",
    "EXERCISES",
    "HEAVIEST_OPTIONAL",
    "IMPORT_TIMES",
    "KERNEL",
    "LAYER_SIZES",
    "NOTEBOOK_TIMEOUT_SECONDS",
    "RECORD_MIME",
    "RECORD_TAG",
    "SOLUTION_FIRST_LINE",
    "SOLUTION_TAG",
    "Environment",
    "Exercise",
    "NotYet",
    "Verdict",
    "answer_problems",
    "check",
    "check_environment",
    "coalesced_streams",
    "course_notebooks",
    "env_name",
    "execute_notebook",
    "exercise",
    "fifo_reported",
    "hide_solutions",
    "is_stub",
    "kernel_config",
    "measured_function_sizes",
    "measured_import_times",
    "measured_layer_sizes",
    "output_problems",
    "output_texts",
    "plain_rich_output",
    "project_root",
    "publishes",
    "record",
    "record_layer_sizes",
    "recorded",
    "refresh_notebooks",
    "resources_created",
    "results",
    "rewind_simulated_state",
    "try_live",
    "verdict",
]
