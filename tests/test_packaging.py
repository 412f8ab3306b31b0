"""What a new user installs: pyproject.toml and environment.yml declare the same dependencies, pinned alike."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def pyproject_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = set(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs.update(r for r in extra if not r.startswith(project["name"]))
    return reqs


def conda_requirements() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    return {r for r in pip if not r.startswith("-e")}


def test_environment_yml_lists_every_dependency_of_pyproject_with_the_same_constraint():
    assert conda_requirements() == pyproject_requirements()


def test_the_snowflake_connector_stays_on_4x_which_fakesnow_can_serve():
    pins = {r for r in pyproject_requirements() if r.startswith("snowflake-connector-python")}
    assert pins == {"snowflake-connector-python>=4,<5"}
