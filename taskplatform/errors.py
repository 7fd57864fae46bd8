"""Exception families that decide whether a task is retried."""

from __future__ import annotations

from kombu.exceptions import OperationalError as BrokerUnavailable
from sqlalchemy.exc import OperationalError

#: Faults of a server the task depends on (database, broker, object store): retried with
#: exponential backoff and jitter. Anything else is a bug or bad input and fails at once.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    BrokerUnavailable,
    ConnectionError,
    TimeoutError,
)


class PermanentError(Exception):
    """Input a task can never process (retrying cannot help)."""

