"""Which faults are worth retrying: one classification shared by tasks and raw-queue consumers.

A fault is *transient* when a server the work depends on is unavailable (database, broker,
object store): the same work succeeds later, so it is retried with backoff. Anything else is
*permanent* (input the database or the store refuses, a bug): retrying cannot help, so a task
fails at once and a raw-queue consumer sends the message to the dead-letter store.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from kombu.exceptions import OperationalError as BrokerUnavailable
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

#: Faults of a server the task depends on: retried with exponential backoff and jitter
#: (`TrackedTask.autoretry_for`). `OperationalError` covers a database that is down, refuses
#: connections, times out, deadlocks or is locked (SQLite); `InterfaceError`, a connection lost.
#: `DataError`, `IntegrityError`, `ProgrammingError` and `StatementError` are not here: they
#: are about the statement or its values, and fail the same way every time.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    psycopg.OperationalError,  # the driver's own, from the ledger's statements run through it (driver_path.py)
    InterfaceError,
    BrokerUnavailable,
    ConnectionError,
    TimeoutError,
    EndpointConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionClosedError,
)

#: HTTP statuses of an object store that mean "later" rather than "never".
RETRYABLE_HTTP_STATUSES = frozenset({408, 429})

#: SQLSTATE classes about the statement or its values, whatever class the driver raises them as
#: (psycopg raises "program limit exceeded", class 54, as an OperationalError): data exception,
#: integrity constraint, syntax or access rule, program limit.
PERMANENT_SQLSTATE_CLASSES = frozenset({"22", "23", "42", "54"})


class PermanentError(Exception):
    """Input a task can never process (retrying cannot help)."""


@contextmanager
def permanent_on(*errors: type[BaseException]) -> Iterator[None]:
    """Inside the block, `errors` become a PermanentError with the same message (the original as its cause): a
    task marks the faults of its input as not worth retrying."""
    try:
        yield
    except errors as exc:
        raise PermanentError(str(exc)) from exc


def is_transient(exc: BaseException) -> bool:
    """Whether the same work may succeed later: `TRANSIENT_ERRORS`, a database connection that was
    invalidated, an object store answering 5xx, 408 or 429, or a socket-level `OSError`.
    Consumers of raw queues decide with this whether to hold a message or dead-letter it."""
    if isinstance(exc, PermanentError):
        return False
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate[:2] in PERMANENT_SQLSTATE_CLASSES:
        return False
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return status >= 500 or status in RETRYABLE_HTTP_STATUSES
    return isinstance(exc, (*TRANSIENT_ERRORS, OSError))


def describe(exc: BaseException) -> str:
    """A short reason for a dead letter: the database driver's own message rather than SQLAlchemy's
    (which repeats the statement and every parameter of the batch)."""
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip() or repr(cause)
    return f"{type(cause).__name__}: {text}"[:2000]
