"""Access control: credentials (API keys, JWTs), the policy per path and method, the middleware, OpenAPI."""

from api.auth.credentials import Credential, CredentialError, Verifier
from api.auth.middleware import AccessMiddleware, shows_details
from api.auth.openapi import document_access

__all__ = ["AccessMiddleware", "Credential", "CredentialError", "Verifier", "document_access", "shows_details"]
