"""The access rules in the OpenAPI document: which operations need which credential."""

from __future__ import annotations

from typing import Any

from api.auth.policy import is_public, is_public_textgen, required_scope

KEY_SCHEME = "APIKeyHeader"
BEARER_SCHEME = "BearerJWT"
SCOPE_TEXT = {
    "read": "**Access**: read scope (a read-only or full `X-API-Key`, or a JWT with scope `read` or `write`).",
    "write": "**Access**: full scope (a full `X-API-Key` from API_KEYS, or a JWT with scope `write`); "
             "a read-only credential gets 403.",
}


def document_access(schema: dict[str, Any], *, textgen_public: bool = False) -> dict[str, Any]:
    """Mark every operation that needs a credential, as the middleware enforces once auth is configured."""
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes[KEY_SCHEME] = {"type": "apiKey", "in": "header", "name": "X-API-Key",
                           "description": "A key from API_KEYS (full) or API_READ_KEYS (GET and HEAD only)."}
    schemes[BEARER_SCHEME] = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                              "description": "HS256 (JWT_SECRET) or RS256 (JWT_JWKS_FILE); claim `scope`: "
                                             "`read` and/or `write`; `exp` required."}
    for path, operations in schema.get("paths", {}).items():
        if is_public(path):
            continue
        for method, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            scope = required_scope(method)
            operation["security"] = [{KEY_SCHEME: []}, {BEARER_SCHEME: []}]
            text = SCOPE_TEXT[scope]
            responses = operation.setdefault("responses", {})
            if textgen_public and is_public_textgen(method, _template_free(path)):
                operation["security"].append({})
                text += " Open to anonymous callers (TEXTGEN_PUBLIC)"
                if method.upper() == "POST":
                    text += ", at most TEXTGEN_PUBLIC_RATE per client address"
                    responses.setdefault("429", {"description": "anonymous rate limit reached; see Retry-After"})
                text += "."
            operation["description"] = f"{operation.get('description', '').rstrip()}\n\n{text}".lstrip()
            responses.setdefault("401", {"description": "missing or invalid credential (once auth is configured)"})
            responses.setdefault("403", {"description": f"the credential lacks the {scope} scope"})
    return schema


def _template_free(path: str) -> str:
    """`/api/result/{job_id}` as a concrete path, for the prefix rules of the policy."""
    return path.replace("{", "x").replace("}", "")
