"""Exception families that decide whether a task is retried."""

from __future__ import annotations

from botocore.exceptions import ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from kombu.exceptions import OperationalError as BrokerUnavailable
from sqlalchemy.exc import OperationalError

#: Faults of a server the task depends on (database, broker, object store): retried with
#: exponential backoff and jitter. Anything else is a bug or bad input and fails at once.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    BrokerUnavailable,
    ConnectionError,
    TimeoutError,
    EndpointConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionClosedError,
)


class PermanentError(Exception):
    """Input a task can never process (retrying cannot help)."""

