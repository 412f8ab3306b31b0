"""Mounted read-only at /var/observe in a sandboxed function (never part of a deployed package): records every
AWS API call the function's botocore makes, for the IAM check of the artifacts run.

On every botocore Session it registers `provide-client-params` (the call's own parameters, where the resource
is named: Bucket and Key, TopicArn, QueueUrl, SecretId) and `after-call` / `after-call-error` (once per API
call, retries aside), and posts service, operation, those parameters and the HTTP status to the local runtime
(`POST /local/aws-calls` on AWS_LAMBDA_RUNTIME_API). botocore is hooked when it is first imported, so nothing is
loaded before the function loads it.
"""

from __future__ import annotations

import http.client
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from types import ModuleType
from typing import Any

RESOURCE_PARAMS = ("Bucket", "Key", "Prefix", "TopicArn", "TargetArn", "QueueUrl", "SecretId", "logGroupName")
_PARAMS_KEY = "pipeline_observed_params"


def _post(record: dict[str, Any]) -> None:
    address = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    if not address:
        return
    connection = http.client.HTTPConnection(address, timeout=5)
    try:
        connection.request("POST", "/local/aws-calls", json.dumps([record]), {"Content-Type": "application/json"})
        connection.getresponse().read()
    except OSError:
        pass
    finally:
        connection.close()


def _params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context[_PARAMS_KEY] = {k: params[k] for k in RESOURCE_PARAMS if isinstance(params.get(k), str)}


def _record(model: Any, context: dict[str, Any], status: int | None) -> None:
    service = model.service_model
    _post(
        {
            "service": service.signing_name or service.endpoint_prefix,
            "operation": model.name,
            "params": context.get(_PARAMS_KEY, {}),
            "status": status,
        }
    )


def _called(model: Any, context: dict[str, Any], http_response: Any = None, **_: Any) -> None:
    _record(model, context, getattr(http_response, "status_code", None))


def _failed(model: Any, context: dict[str, Any], **_: Any) -> None:
    _record(model, context, None)  # no answer at all (connection error): the call was still attempted


def _hook(module: ModuleType) -> None:
    session_class = module.Session
    original = session_class.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.register("provide-client-params", _params)
        self.register("after-call", _called)
        self.register("after-call-error", _failed)

    session_class.__init__ = __init__


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name != "botocore.session":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_and_hook(module: ModuleType) -> None:
            exec_module(module)
            _hook(module)
            sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _Finder)]

        loader.exec_module = exec_and_hook  # type: ignore[method-assign]
        return spec


sys.meta_path.insert(0, _Finder())
