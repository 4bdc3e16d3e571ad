"""Who is calling: a bearer token, or the browser's cookie session guarded against CSRF.

Every route but ping and health depends on :class:`RequireUser`. A request authenticated by
the session cookie that changes state (anything but GET, HEAD, OPTIONS) must also send the
CSRF token in the ``X-CSRF-Token`` header (double submit: the browser's script reads it from
the readable ``qt_csrf`` cookie); the header must match the token inside the signed session,
so a cookie planted by another site does not pass. A bearer token is never sent by a browser
on its own, so it needs no CSRF token.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from quantum_trader.api.tokens import Token, TokenIssuer

SESSION_COOKIE = "qt_session"
CSRF_COOKIE = "qt_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

bearer_scheme = HTTPBearer(auto_error=False, description="an access token from /auth/login")
cookie_scheme = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description="the browser session set by /auth/login (state changes need X-CSRF-Token)",
)


def unauthorized(detail: str = "not authenticated") -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def same_text(given: str, expected: str) -> bool:
    """Constant-time comparison of two strings (passwords, CSRF tokens)."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


class RequireUser:
    """The dependency that authenticates a request, or answers 401 (403 for a missing or wrong
    CSRF token on a cookie-authenticated state change)."""

    def __init__(self, issuer: TokenIssuer) -> None:
        self._issuer = issuer

    async def __call__(
        self,
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
        session: Annotated[str | None, Depends(cookie_scheme)],
    ) -> Token:
        if bearer is not None:
            return self._verified(bearer)
        if session is None:
            raise unauthorized()
        token = self._verified(HTTPAuthorizationCredentials(scheme="Bearer", credentials=session))
        if request.method not in SAFE_METHODS:
            header = request.headers.get(CSRF_HEADER, "")
            if not header or not same_text(header, token.csrf):
                raise HTTPException(status.HTTP_403_FORBIDDEN, detail="missing or wrong CSRF token")
        return token

    def _verified(self, credentials: HTTPAuthorizationCredentials) -> Token:
        token = self._issuer.verify(credentials.credentials)
        if token is None:
            raise unauthorized("invalid or expired token")
        return token
