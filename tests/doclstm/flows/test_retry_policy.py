"""Retries where a failure can go away by itself, never where the input is wrong."""

from __future__ import annotations

import errno

import pytest
import requests
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
)

from doclstm.errors import DoclstmError
from doclstm.flows.retry_policy import io_retry_options, is_transient


def _http_error(status: int) -> requests.HTTPError:
    response = requests.Response()
    response.status_code = status
    return requests.HTTPError(f"HTTP {status}", response=response)


def _raised_from(outer: BaseException, inner: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise outer from exc
    except BaseException as chained:
        return chained


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionResetError(errno.ECONNRESET, "connection reset by peer"),
        TimeoutError("read timed out"),
        OSError(errno.ESTALE, "stale file handle"),
        OSError(errno.EIO, "input/output error"),
        requests.ConnectionError("server went away"),
        requests.Timeout("slow"),
        _http_error(503),
        _http_error(429),
        MlflowException("try later", error_code=TEMPORARILY_UNAVAILABLE),
        _raised_from(RuntimeError("register failed"), _http_error(502)),
    ],
    ids=repr,
)
def test_transient_failures_are_retried(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        DoclstmError("label column missing"),
        FileNotFoundError(errno.ENOENT, "no such file"),
        PermissionError(errno.EACCES, "permission denied"),
        ValueError("bad value"),
        KeyError("x"),
        _http_error(404),
        _http_error(400),
        MlflowException("no such model", error_code=RESOURCE_DOES_NOT_EXIST),
        MlflowException("bad", error_code=INVALID_PARAMETER_VALUE),
        # A user error raised while handling a network error: the user must act.
        _raised_from(DoclstmError("source is not an archive"), ConnectionResetError()),
    ],
    ids=repr,
)
def test_permanent_failures_are_not_retried(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_a_cycle_in_the_exception_chain_ends() -> None:
    a, b = ValueError("a"), ValueError("b")
    a.__context__, b.__context__ = b, a
    assert not is_transient(a)


@pytest.mark.slow
def test_a_prefect_task_retries_transient_errors_only(prefect_server: None) -> None:
    """A real flow: one transient failure is retried and succeeds; bad data fails at once."""
    from prefect import flow, task

    calls: dict[str, int] = {"flaky": 0, "bad": 0}
    options = io_retry_options() | {"retry_delay_seconds": 0, "retry_jitter_factor": None}

    @task(**options)
    def flaky() -> str:
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise OSError(errno.ESTALE, "stale file handle")
        return "read"

    @task(**options)
    def bad() -> str:
        calls["bad"] += 1
        raise DoclstmError("row 3: no label")

    @flow
    def both() -> tuple[str, str]:
        first = flaky()
        try:
            bad()
        except DoclstmError as exc:
            return first, str(exc)
        return first, "no error"

    assert both() == ("read", "row 3: no label")
    assert calls == {"flaky": 2, "bad": 1}
