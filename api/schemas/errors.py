"""HTTP models of error answers, and the `responses=` declarations routes share."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from api.schemas.tasks import TaskAccepted


class ErrorOut(BaseModel):
    """Every error answer: FastAPI's `{"detail": ...}`, a sentence, a list of field errors or an object."""

    detail: str | list[dict[str, Any]] | dict[str, Any] = Field(
        description="what went wrong: a sentence, FastAPI's list of field errors ({loc, msg, type}), or an object")


class DataProblems(BaseModel):
    problems: list[str]
    columns: list[str]


class DataErrorOut(BaseModel):
    """A 422 about a data set's content (housing): field errors, or the problems found and the columns named."""

    detail: list[dict[str, Any]] | DataProblems | str


def _error(description: str, model: type[BaseModel] = ErrorOut) -> dict[str, Any]:
    return {"model": model, "description": description}


#: FastAPI refuses a JSON body it cannot decode (not UTF-8) before validation.
BAD_BODY: dict[int | str, dict[str, Any]] = {400: _error("the body could not be parsed")}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: _error("no such resource")}
#: Every route that enqueues: the broker refused or could not be reached.
ENQUEUE: dict[int | str, dict[str, Any]] = {503: _error("the broker did not accept the task; retry later")}
DATA_ERROR: dict[int | str, dict[str, Any]] = {422: _error("the data cannot be used, with the problems found",
                                                            DataErrorOut)}
NO_MODEL: dict[int | str, dict[str, Any]] = {409: _error("no model has been trained yet")}
#: `?assincrono=true` on the housing routes.
ACCEPTED_ASYNC: dict[int | str, dict[str, Any]] = {202: {"model": TaskAccepted,
                                                         "description": "accepted (assincrono=true): follow the task"}}
