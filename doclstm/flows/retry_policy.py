"""Which failures are worth retrying: transient I/O yes, bad data or bad params never.

The Prefect tasks that talk to a server or read a source over a network share
(ingest, register, gate, score) retry with exponential backoff, but only when
`is_transient` says the error can go away by itself. A `DoclstmError` (the user
must fix something), a missing file or a programming error fails at once:
retrying them only delays the message.
"""

from __future__ import annotations

import errno
from typing import Any

import requests

from doclstm.errors import DoclstmError

# errno values a network filesystem, a socket or an object-store mount can return and
# then stop returning: a lost connection, a stale NFS handle, a full queue.
_TRANSIENT_ERRNOS = frozenset(
    {
        errno.EAGAIN,
        errno.EBUSY,
        errno.ECONNABORTED,
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.EHOSTUNREACH,
        errno.EINTR,
        errno.EIO,
        errno.ENETDOWN,
        errno.ENETRESET,
        errno.ENETUNREACH,
        errno.ESTALE,
        errno.ETIMEDOUT,
    }
)
# HTTP statuses a server sends when it is overloaded or restarting (RFC 9110).
_TRANSIENT_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
# The MLflow error codes those statuses map to (mlflow.protos.databricks_pb2).
_TRANSIENT_MLFLOW_CODES = frozenset(
    {"INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED", "DEADLINE_EXCEEDED"}
)

RETRIES = 3
RETRY_DELAYS_SECONDS = [2.0, 8.0, 32.0]  # exponential backoff, factor 4
RETRY_JITTER = 0.5


def is_transient(exc: BaseException) -> bool:
    """True when `exc`, or an exception it was raised from, may succeed on a retry."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DoclstmError):
            return False
        if _transient_here(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect `retry_condition_fn`: retry a failed task run only for a transient error."""
    try:
        state.result(raise_on_failure=True)
    except BaseException as exc:
        return is_transient(exc)
    return False


def io_retry_options() -> dict[str, Any]:
    """Task options for a stage whose failures can be transient I/O."""
    return {
        "retries": RETRIES,
        "retry_delay_seconds": RETRY_DELAYS_SECONDS,
        "retry_jitter_factor": RETRY_JITTER,
        "retry_condition_fn": retry_transient,
    }


def _transient_here(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return True
    if isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS:
        return True
    status = _http_status(exc)
    if status is not None:
        return status in _TRANSIENT_HTTP
    code = getattr(exc, "error_code", None)
    return isinstance(code, str) and code in _TRANSIENT_MLFLOW_CODES


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status a requests/httpx/MLflow error carries, if any."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if status is None:
        status = getattr(exc, "get_http_status_code", lambda: None)()
    return status if isinstance(status, int) else None
