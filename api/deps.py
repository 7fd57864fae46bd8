"""FastAPI dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from taskplatform.core.db import new_session
from taskplatform.core.settings import Settings, get_settings
from taskplatform.ledger.idempotency import ScopedKey, idempotency_scope, request_hash


def get_db() -> Iterator[Session]:
    session = new_session()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def scoped_idempotency_key(
    request: Request,
    key: Annotated[str | None, Header(
        alias="Idempotency-Key", max_length=200,
        description="Repeat a POST with the same key and the same body to get the first task back instead of a "
                    "second one. Keys are per credential; the same key with another body is a 422.")] = None,
) -> ScopedKey | None:
    """The request's `Idempotency-Key` with its scope (the caller's credential) and the request's hash.

    The body is read only when a key is given (Starlette keeps it for the route). The credential
    id is set by the authentication middleware; without one the scope is "anonymous".
    """
    if not key:
        return None
    digest = request_hash(method=request.method, path=request.url.path, query=request.query_params.multi_items(),
                          content_type=request.headers.get("content-type"), body=await request.body())
    return ScopedKey(key=key, scope=idempotency_scope(getattr(request.state, "credential_id", None)),
                          request_hash=digest)


#: A route's `Idempotency-Key` header, scoped to the caller and bound to a hash of the request (None
#: without the header); routes pass it to `enqueue_or_503` as it is.
IdempotencyKey = Annotated[ScopedKey | None, Depends(scoped_idempotency_key)]
