"""A CloudFormation stack driven through change sets: create or update, wait for the change set, show its changes,
execute it and follow the stack's events to the end; delete; and what to do with a stack no change set can leave.
`workbench.deploy.deployer` uploads the artifacts and runs it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from botocore.exceptions import ClientError, WaiterError
from rich.console import Console
from rich.table import Table
from tenacity import Retrying, retry_if_result, wait_fixed

from pipeline.aws import is_not_found
from pipeline.errors import PipelineError
from workbench.deploy.archive import Artifact

CAPABILITIES: Final = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
TEMPLATE_BODY_LIMIT: Final = 51_200  # bytes; a larger template goes through S3 (TemplateURL)
NO_CHANGES: Final = ("didn't contain changes", "No updates are to be performed")


class DeployError(PipelineError):
    """The stack could not be deployed or deleted; the message says what failed and what to do."""


def check_parameter_names(declared: Mapping[str, Any], given: Mapping[str, str]) -> None:
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise DeployError(
            f"the template has no parameter {', '.join(unknown)}: it declares {', '.join(declared) or 'none'}"
        )


@dataclass
class Deployer:
    """Talks to CloudFormation and S3 for one stack; prints what happens on `console`."""

    stack_name: str
    cloudformation: Any
    s3: Any
    region: str
    console: Console = field(default_factory=Console)
    poll_seconds: float = 5.0
    # Give every parameter's value instead of UsePreviousValue (moto counts those as changed and then fails
    # to update resources it cannot update, such as log groups).
    explicit_parameters: bool = False
    # How long a change set may take to be ready before deploy gives up, in one line (a waiter has no other end).
    change_set_timeout: float = 600.0

    # -- artifacts ---------------------------------------------------------------------------------------
    def ensure_bucket(self, bucket: str) -> None:
        """Create the artifact bucket (private, encrypted) unless it exists and is ours."""
        try:
            self.s3.head_bucket(Bucket=bucket)
            return
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("403", "AccessDenied", "Forbidden"):
                raise DeployError(
                    f"artifact bucket {bucket} exists but is not yours: pass --parameter ArtifactBucket=<your bucket>"
                ) from None
            if not is_not_found(exc):
                raise
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        self.s3.create_bucket(**kwargs)
        self.s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True, "IgnorePublicAcls": True,
                "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
            },
        )  # fmt: skip
        self.console.print(f"created artifact bucket [bold]{bucket}[/bold]")

    def upload(self, bucket: str, artifact: Artifact) -> None:
        """Upload under a content-addressed key, unless that key is already there."""
        try:
            self.s3.head_object(Bucket=bucket, Key=artifact.s3_key)
            self.console.print(f"  {artifact.s3_key} already uploaded", soft_wrap=True)
            return
        except ClientError as exc:
            if not is_not_found(exc):
                raise
        with self.console.status(f"uploading {artifact.path.name} ({artifact.zipped / 1e6:.1f} MB)"):
            self.s3.upload_file(str(artifact.path), bucket, artifact.s3_key)
        self.console.print(f"  uploaded {artifact.path.name} -> s3://{bucket}/{artifact.s3_key}", soft_wrap=True)

    def template_source(self, bucket: str, template: Path) -> dict[str, str]:
        """TemplateBody, or TemplateURL for a template over CloudFormation's inline limit."""
        text = template.read_text(encoding="utf-8")
        if len(text.encode()) <= TEMPLATE_BODY_LIMIT:
            return {"TemplateBody": text}
        key = f"templates/{self.stack_name}/{template.name}"
        self.s3.put_object(Bucket=bucket, Key=key, Body=text.encode())
        return {"TemplateURL": f"https://{bucket}.s3.{self.region}.amazonaws.com/{key}"}

    # -- the stack ---------------------------------------------------------------------------------------
    def stack(self) -> dict[str, Any] | None:
        try:
            stacks = self.cloudformation.describe_stacks(StackName=self.stack_name)["Stacks"]
        except ClientError as exc:
            if "does not exist" in str(exc):
                return None
            raise
        return stacks[0] if stacks else None

    def deploy(
        self, source: Mapping[str, str], declared: Mapping[str, Any], parameters: Mapping[str, str]
    ) -> dict[str, str]:
        """Create or update the stack through a change set; returns its outputs."""
        check_parameter_names(declared, parameters)
        current = self.stack()
        status = current["StackStatus"] if current else None
        self._refuse_unusable(status)
        change_type = "UPDATE" if status else "CREATE"
        name = f"deploy-{datetime.now(UTC):%Y%m%d-%H%M%S}"
        created = self.cloudformation.create_change_set(
            StackName=self.stack_name,
            ChangeSetName=name,
            ChangeSetType=change_type,
            Parameters=self._parameters(current if change_type == "UPDATE" else None, declared, parameters),
            Capabilities=CAPABILITIES,
            Description="python -m pipeline deploy",
            **source,
        )
        change_set_id = created["Id"]
        if not self._wait_for_change_set(change_set_id, change_type):
            return self.outputs()
        self.console.print(self.changes_table(change_set_id, change_type))
        self._execute(change_set_id, change_type)
        return self.outputs()

    def _refuse_unusable(self, status: str | None) -> None:
        """A stack that a change set cannot change now: one line saying what to do."""
        if status and (advice := stuck_stack_advice(self.stack_name, status)):
            raise DeployError(advice)
        if status and status.endswith("_IN_PROGRESS"):
            raise DeployError(f"stack {self.stack_name} is busy ({status}): wait for it to finish, then deploy again")

    def _parameters(
        self, current: Mapping[str, Any] | None, declared: Mapping[str, Any], parameters: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """The change set's parameters. On an update (`current`, the stack), a parameter not given keeps the value
        the stack has, as `aws cloudformation deploy` does."""
        previous = {p["ParameterKey"]: p.get("ParameterValue", "") for p in (current or {}).get("Parameters", [])}
        listed: list[dict[str, Any]] = [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()]
        for key, spec in declared.items():
            if key in parameters:
                continue
            if self.explicit_parameters:  # moto: every value spelled out, so only real changes count as changes
                value = previous.get(key, spec.get("Default"))
                if value is not None:
                    listed.append({"ParameterKey": key, "ParameterValue": str(value)})
            elif key in previous:
                listed.append({"ParameterKey": key, "UsePreviousValue": True})
        return listed

    def _execute(self, change_set_id: str, change_type: str) -> None:
        """Execute the change set and follow the stack's events until it settles; an error unless it completed."""
        seen = self._recent_event_ids()
        try:
            self.cloudformation.execute_change_set(ChangeSetName=change_set_id, StackName=self.stack_name)
        except ClientError as exc:  # moto fails here where AWS would roll back with events
            reason = exc.response.get("Error", {}).get("Message") or str(exc)
            if change_type == "CREATE":  # nothing was created: an empty stack left in review blocks the next deploy
                self.cloudformation.delete_stack(StackName=self.stack_name)
                reason += " (the empty stack was deleted: fix the cause and deploy again)"
            raise DeployError(f"{change_type.lower()} of stack {self.stack_name} failed: {reason}") from None
        final, events = self.follow(seen, f"{change_type}_COMPLETE")
        if final != f"{change_type}_COMPLETE":
            raise DeployError(
                f"{change_type.lower()} of stack {self.stack_name} ended {final}: {first_failure(events)}"
            )
        self.console.print(f"[green]stack {self.stack_name}: {final}[/green]")

    def _wait_for_change_set(self, change_set_id: str, change_type: str) -> bool:
        """True when the change set can be executed; False (and it is deleted) when it holds no changes. A change
        set not ready within `change_set_timeout` is an error saying what to type."""
        waiter = self.cloudformation.get_waiter("change_set_create_complete")
        delay = max(1, int(self.poll_seconds))
        try:
            waiter.wait(
                ChangeSetName=change_set_id,
                StackName=self.stack_name,
                WaiterConfig={"Delay": delay, "MaxAttempts": max(1, math.ceil(self.change_set_timeout / delay))},
            )
            return True
        except WaiterError:
            described = self.cloudformation.describe_change_set(ChangeSetName=change_set_id, StackName=self.stack_name)
        status = str(described.get("Status", ""))
        if status in ("CREATE_PENDING", "CREATE_IN_PROGRESS"):
            way_out = (
                f"delete the stack with `python -m pipeline deploy --stack {self.stack_name} --delete`"
                if change_type == "CREATE"
                else f"delete the change set (`aws cloudformation delete-change-set --stack-name {self.stack_name} "
                f"--change-set-name {change_set_id}`)"
            )
            raise DeployError(
                f"the change set of stack {self.stack_name} is still {status} after "
                f"{self.change_set_timeout:.0f} s: {way_out}, then deploy again"
            )
        reason = str(described.get("StatusReason", ""))
        self.cloudformation.delete_change_set(ChangeSetName=change_set_id, StackName=self.stack_name)
        if any(marker in reason for marker in NO_CHANGES):
            self.console.print(f"stack {self.stack_name} is up to date: no changes to deploy")
            return False
        if change_type == "CREATE":
            self.cloudformation.delete_stack(StackName=self.stack_name)
        raise DeployError(f"change set for stack {self.stack_name} failed: {reason or 'no reason given'}")

    def changes_table(self, change_set_id: str, change_type: str) -> Table:
        changes: list[dict[str, Any]] = []
        kwargs = {"ChangeSetName": change_set_id, "StackName": self.stack_name}
        while True:
            page = self.cloudformation.describe_change_set(**kwargs)
            changes += page.get("Changes", [])
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
        table = Table(title=f"{change_type} {self.stack_name}: {len(changes)} change(s)")
        for column in ("action", "logical id", "type", "replacement"):
            table.add_column(column)
        for change in changes:
            detail = change.get("ResourceChange", {})
            table.add_row(
                detail.get("Action", ""),
                detail.get("LogicalResourceId", ""),
                detail.get("ResourceType", ""),
                detail.get("Replacement", ""),
            )
        return table

    def _recent_event_ids(self) -> set[str]:
        """Ids of the events already there (the newest page), so `follow` shows only what comes next."""
        try:
            page = self.cloudformation.describe_stack_events(StackName=self.stack_name)
        except ClientError as exc:
            if "does not exist" in str(exc):
                return set()
            raise
        return {event["EventId"] for event in page["StackEvents"]}

    def _new_events(self, seen: set[str]) -> list[dict[str, Any]]:
        """Events not seen yet, oldest first (CloudFormation lists the newest first)."""
        fresh: list[dict[str, Any]] = []
        try:
            pages = self.cloudformation.get_paginator("describe_stack_events").paginate(StackName=self.stack_name)
            for page in pages:
                for event in page["StackEvents"]:
                    if event["EventId"] in seen:
                        return fresh[::-1]
                    fresh.append(event)
        except ClientError as exc:
            if "does not exist" not in str(exc):
                raise
        return fresh[::-1]

    def follow(self, seen: set[str], goal: str) -> tuple[str, list[dict[str, Any]]]:
        """Print the stack's new events as they come until it settles; returns its final status and the events."""
        events: list[dict[str, Any]] = []
        with self.console.status(f"{self.stack_name}: waiting for {goal}") as spinner:

            def settled() -> str | None:
                """The stack's final status, or None while it is still in progress."""
                for event in self._new_events(seen):
                    seen.add(event["EventId"])
                    events.append(event)
                    self.console.print(_event_line(event), highlight=False)
                stack = self.stack()
                if stack is None:
                    return "DELETE_COMPLETE"
                status = str(stack["StackStatus"])
                spinner.update(f"{self.stack_name}: {status}")
                return None if status.endswith("_IN_PROGRESS") else status

            polling = Retrying(wait=wait_fixed(self.poll_seconds), retry=retry_if_result(lambda status: status is None))
            final = polling(settled)
        assert final is not None  # the polling ends only once there is a final status
        return final, events

    def outputs(self) -> dict[str, str]:
        stack = self.stack() or {}
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def delete(self) -> bool:
        """Delete the stack and wait; False when there was none."""
        if self.stack() is None:
            self.console.print(f"stack {self.stack_name} does not exist: nothing to delete")
            return False
        seen = self._recent_event_ids()
        self.cloudformation.delete_stack(StackName=self.stack_name)
        final, events = self.follow(seen, "DELETE_COMPLETE")
        if final != "DELETE_COMPLETE":
            raise DeployError(f"delete of stack {self.stack_name} ended {final}: {first_failure(events)}")
        self.console.print(f"[green]stack {self.stack_name}: deleted[/green]")
        return True


def stuck_stack_advice(stack_name: str, status: str) -> str | None:
    """One line with the way out of a state no change set can leave; None for a stack that can be deployed."""
    delete = f"`python -m pipeline deploy --stack {stack_name} --delete`"
    if status == "UPDATE_ROLLBACK_FAILED":
        return (
            f"stack {stack_name} is UPDATE_ROLLBACK_FAILED (an update failed and so did its rollback): fix what its "
            f"events name, run `aws cloudformation continue-update-rollback --stack-name {stack_name}` (add "
            "--resources-to-skip LOGICAL_ID for a resource that cannot roll back), then deploy again"
        )
    if status == "REVIEW_IN_PROGRESS":
        return (
            f"stack {stack_name} is REVIEW_IN_PROGRESS: its first create never ran (its change set failed or was "
            f"not executed) and a new one cannot be made in its place: delete it with {delete}, then deploy again"
        )
    if status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED"):
        return (
            f"stack {stack_name} is {status} after a failed first create and cannot be updated: delete it with "
            f"{delete}, then deploy again to create it anew"
        )
    if status == "DELETE_FAILED":
        return f"stack {stack_name} is DELETE_FAILED: see its events, then delete it again with {delete}"
    return None


def outputs_table(stack_name: str, outputs: Mapping[str, str]) -> Table:
    table = Table(title=f"{stack_name} outputs")
    table.add_column("output")
    table.add_column("value", overflow="fold")
    for key, value in sorted(outputs.items()):
        table.add_row(key, value)
    return table


def _event_line(event: Mapping[str, Any]) -> str:
    status = str(event["ResourceStatus"])
    style = "red" if "FAILED" in status else ("green" if status.endswith("COMPLETE") else "default")
    reason = event.get("ResourceStatusReason") or ""
    return (
        f"{event['Timestamp']:%H:%M:%S} {event['LogicalResourceId']:<36} {event['ResourceType']:<28} "
        f"[{style}]{status}[/{style}] {reason}"
    ).rstrip()


def first_failure(events: Sequence[Mapping[str, Any]]) -> str:
    """The first failed resource and why (CloudFormation's later failures are mostly 'cancelled')."""
    for event in events:
        if "FAILED" in str(event["ResourceStatus"]) and event.get("ResourceStatusReason"):
            return f"{event['LogicalResourceId']}: {event['ResourceStatusReason']}"
    return "see the stack's events in the CloudFormation console"
