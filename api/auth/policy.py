"""What a request needs: which paths are public, which scope a method needs, and the decision.

Pure logic (no Starlette): `decide` takes the method, the path and the two credential headers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from api.auth.credentials import READ, WRITE, Credential, CredentialError, Verifier

#: Always open: the index, the short health answer, the demo page, and the API documentation when it is
#: served at all (the app factory turns it off in production; see `docs_enabled`).
#: The console's sign-in and sign-out pages and its stylesheet and script are open too (its views are not).
PUBLIC_PATHS = frozenset({"/", "/status", "/demo", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json",
                          "/painel/entrar", "/painel/sair"})
PUBLIC_PREFIXES = ("/demo/", "/painel/static/")
#: Opened to anonymous callers, rate limited, when TEXTGEN_PUBLIC is true.
TEXTGEN_PREDICT = "/api/predict"
TEXTGEN_RESULT_PREFIX = "/api/result/"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Outcome(Enum):
    ALLOW = "allow"
    #: Anonymous use of the public text-generation page: allowed once the caller's rate limit agrees.
    RATE_LIMITED = "rate_limited"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    credential: Credential | None = None
    reason: str = ""


def required_scope(method: str) -> str:
    return READ if method.upper() in READ_METHODS else WRITE


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def is_public_textgen(method: str, path: str) -> bool:
    method = method.upper()
    return (method == "POST" and path == TEXTGEN_PREDICT) or \
        (method in READ_METHODS and path.startswith(TEXTGEN_RESULT_PREFIX))


def decide(verifier: Verifier, *, method: str, path: str, api_key: str | None, authorization: str | None,
           textgen_public: bool = False, console_session: Credential | None = None) -> Decision:
    """Allow, refuse (401 no or bad credential, 403 wrong scope), or send to the anonymous rate limit.

    `console_session` is the credential of the console's signed cookie, which the middleware reads for
    `/painel/*` requests only; a header, when sent, wins over it."""
    try:
        credential = verifier.identify(api_key=api_key, authorization=authorization) if verifier.configured \
            else None
    except CredentialError as exc:
        if is_public(path):  # a stale header never breaks a health check or the demo page
            return Decision(Outcome.ALLOW)
        return Decision(Outcome.UNAUTHORIZED, reason=str(exc))
    if credential is None and verifier.configured:
        credential = console_session
    if credential is None:
        if textgen_public and is_public_textgen(method, path):
            # Only the generation itself costs; polling a result by its unguessable id is cheap.
            return Decision(Outcome.RATE_LIMITED if method.upper() == "POST" else Outcome.ALLOW)
        if is_public(path) or not verifier.configured:
            return Decision(Outcome.ALLOW)
        return Decision(Outcome.UNAUTHORIZED, reason="a credential is required")
    if is_public(path):
        return Decision(Outcome.ALLOW, credential)
    needed = required_scope(method)
    if needed not in credential.scopes:
        what = "only reads (GET, HEAD)" if credential.scopes else "nothing here (no read or write scope)"
        return Decision(Outcome.FORBIDDEN, credential, reason=f"this credential allows {what}; {needed} is needed")
    return Decision(Outcome.ALLOW, credential)
