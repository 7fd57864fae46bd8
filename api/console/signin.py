"""Signing in to the console once per browser session (`/painel/entrar`) and out (`/painel/sair`)."""

from __future__ import annotations

from typing import Any

import jwt
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth.credentials import READ, CredentialError, Verifier
from api.console.render import page
from api.console.session import CSRF_FIELD, SESSION_COOKIE, SessionSigner, cookie_options, csrf_matches

router = APIRouter(prefix="/painel", include_in_schema=False)


def _identify(verifier: Verifier, pasted: str) -> tuple[Any, float | None]:
    """The credential of a pasted API key or JWT, with the JWT's expiry; CredentialError if neither is valid."""
    try:
        return verifier.identify(api_key=pasted, authorization=None), None
    except CredentialError:
        if pasted.count(".") != 2 or not verifier.accepts_jwt:
            raise
    credential = verifier.check_jwt(pasted)  # verified: its claims can be read as they are
    return credential, float(jwt.decode(pasted, options={"verify_signature": False})["exp"])


@router.get("/entrar", response_class=HTMLResponse)
def sign_in_form(request: Request) -> Response:
    return page(request, "painel/entrar.html", error=None)


@router.post("/entrar", response_class=HTMLResponse)
async def sign_in(request: Request) -> Response:
    """Check the pasted key as the API checks a header; on success keep only a signed session in a cookie."""
    form = await request.form()
    if not csrf_matches(request.cookies, str(form.get(CSRF_FIELD) or "")):
        return page(request, "painel/entrar.html", status_code=403, error="Formulário expirado: tente de novo.")
    verifier: Verifier = request.app.state.console_verifier
    if not verifier.configured:
        return RedirectResponse("/painel", status_code=303)
    pasted = str(form.get("chave") or "").strip()
    try:
        credential, expires_at = _identify(verifier, pasted)
    except CredentialError:
        return page(request, "painel/entrar.html", status_code=401, error="Chave ou token inválido.")
    if credential is None or READ not in credential.scopes:
        return page(request, "painel/entrar.html", status_code=403, error="Esta credencial não pode ler.")
    signer: SessionSigner = request.app.state.console_signer
    response = RedirectResponse("/painel", status_code=303)
    response.set_cookie(SESSION_COOKIE, signer.sign(credential, expires_at=expires_at),
                        **cookie_options(secure=request.url.scheme == "https"))  # type: ignore[arg-type]
    return response


@router.post("/sair")
async def sign_out(request: Request) -> Response:
    form = await request.form()
    if not csrf_matches(request.cookies, str(form.get(CSRF_FIELD) or "")):
        return page(request, "painel/entrar.html", status_code=403, error="Formulário expirado: tente de novo.")
    response = RedirectResponse("/painel/entrar", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/painel")
    return response
