"""`permanent_on`: the one way a task marks a fault of its input as not worth retrying."""

from __future__ import annotations

import pytest

from taskplatform.core.errors import PermanentError, is_transient, permanent_on


def test_listed_errors_become_permanent_with_their_message_and_cause() -> None:
    original = ValueError("bad input")
    with pytest.raises(PermanentError, match="^bad input$") as caught, permanent_on(KeyError, ValueError):
        raise original
    assert caught.value.__cause__ is original and not is_transient(caught.value)


def test_other_errors_pass_through() -> None:
    with pytest.raises(TimeoutError), permanent_on(ValueError):
        raise TimeoutError("later")
