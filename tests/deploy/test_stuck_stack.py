"""A stack no change set can move on from is one line with the way out, before anything is changed."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from workbench.deploy.deployer import Deployer, DeployError


class StuckCloudFormation:
    """A CloudFormation client whose stack sits in `status`; it records every call that would change anything."""

    def __init__(self, status: str) -> None:
        self.status = status
        self.changes: list[str] = []

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        return {"Stacks": [{"StackName": StackName, "StackStatus": self.status, "Parameters": []}]}

    def __getattr__(self, name: str) -> Any:
        def call(**kwargs: Any) -> Any:
            self.changes.append(name)
            raise AssertionError(f"{name} called on a stuck stack")

        return call


def _deploy(status: str) -> tuple[str, StuckCloudFormation]:
    cloudformation = StuckCloudFormation(status)
    deployer = Deployer("mdp", cloudformation, s3=None, region="us-east-1", console=Console(quiet=True))
    with pytest.raises(DeployError) as failure:
        deployer.deploy({"TemplateBody": "{}"}, {}, {})
    return str(failure.value), cloudformation


def test_update_rollback_failed_names_continue_update_rollback() -> None:
    message, cloudformation = _deploy("UPDATE_ROLLBACK_FAILED")
    assert message.startswith("stack mdp is UPDATE_ROLLBACK_FAILED")
    assert "aws cloudformation continue-update-rollback --stack-name mdp" in message and "\n" not in message
    assert cloudformation.changes == []


@pytest.mark.parametrize("status", ["ROLLBACK_COMPLETE", "ROLLBACK_FAILED"])
def test_a_failed_first_create_names_delete_and_create_again(status: str) -> None:
    message, cloudformation = _deploy(status)
    assert message.startswith(f"stack mdp is {status} after a failed first create")
    assert "python -m pipeline deploy --stack mdp --delete" in message and "\n" not in message
    assert cloudformation.changes == []


def test_a_busy_stack_is_waited_for_not_changed() -> None:
    message, cloudformation = _deploy("UPDATE_IN_PROGRESS")
    assert "busy (UPDATE_IN_PROGRESS)" in message and cloudformation.changes == []
