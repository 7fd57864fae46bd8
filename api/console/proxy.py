"""The console's way into the JSON API: `/painel/api/<path>` is `/<path>`, answered by the same route.

The pages' JavaScript reads and acts through the API's own routes (`/tarefa/{id}/eventos`, `/tarefa/{id}/cancelar`,
`/dead-letters/{id}/replay`...), so the console has no second query layer. A browser signed in to the console
carries a cookie rather than a header; the access middleware accepts that cookie on `/painel/*` only, so the
console's calls go under `/painel/api/`: this middleware, the outermost, marks console requests, checks the CSRF
token of every console call that writes, and rewrites the path back to the API's.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from api.console.session import CSRF_HEADER, csrf_matches

PREFIX = "/painel"
API_PREFIX = "/painel/api"
#: The API paths the console may call (nothing else is reachable with its cookie).
API_PATHS = ("/tarefa/", "/tarefas", "/dead-letters", "/modelos/imoveis/", "/relatorio/")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ConsoleMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        root: str = scope.get("root_path", "")
        path: str = scope["path"]
        local = path[len(root):] if root and path.startswith(root) else path
        if local != PREFIX and not local.startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        if local != API_PREFIX and not local.startswith(API_PREFIX + "/"):
            state["console"] = "page"
            await self.app(scope, receive, send)
            return
        target = local[len(API_PREFIX):]
        if not target.startswith(API_PATHS):
            await JSONResponse({"detail": f"{target or '/'} is not open to the console"}, status_code=404)(
                scope, receive, send)
            return
        headers = Headers(scope=scope)
        if scope["method"] not in READ_METHODS and \
                not csrf_matches(cookie_parser(headers.get("cookie", "")), headers.get(CSRF_HEADER)):
            await JSONResponse({"detail": "missing or wrong CSRF token: reload the page"}, status_code=403)(
                scope, receive, send)
            return
        state["console"] = "api"
        await self.app({**scope, "path": root + target, "raw_path": (root + target).encode()}, receive, send)
