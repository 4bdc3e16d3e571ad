"""Routes without authentication: ping, health, and the login that hands out tokens."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status
from sqlalchemy import text

from quantum_trader.api.auth import CSRF_COOKIE, SESSION_COOKIE, same_text
from quantum_trader.api.context import API_PREFIX, ApiContext
from quantum_trader.api.schemas import ErrorOut, HealthOut, LoginIn, LoginOut, PingOut
from quantum_trader.observability.logging import get_logger

log = get_logger(__name__)


def public_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, tags=["public"])

    @router.get("/ping")
    def ping() -> PingOut:
        return PingOut()

    @router.get("/health")
    def health() -> HealthOut:
        try:
            with ctx.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:  # health reports, it does not fail
            return HealthOut(status="degraded", database=False)
        return HealthOut(status="ok", database=True)

    @router.post(
        "/auth/login",
        responses={
            401: {"model": ErrorOut, "description": "wrong username or password"},
            429: {"model": ErrorOut, "description": "too many login attempts"},
        },
    )
    def login(body: LoginIn, request: Request, response: Response) -> LoginOut:
        """An access token (``Authorization: Bearer …``), and the browser's cookie session
        with its CSRF token (send it back as ``X-CSRF-Token`` on state changes)."""
        client = request.client.host if request.client else "unknown"
        if not ctx.limiter.allow(client):
            log.warning("api.login_rate_limited", client=client)
            raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "too many login attempts")
        user_ok = same_text(body.username, ctx.config.username)
        password_ok = same_text(body.password, ctx.config.password)
        if not (user_ok and password_ok):
            log.warning("api.login_refused", client=client)
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
        token, claims = ctx.issuer.issue(ctx.config.username)
        max_age = ctx.config.token_minutes * 60
        response.set_cookie(
            SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="strict", path="/"
        )
        response.set_cookie(CSRF_COOKIE, claims.csrf, max_age=max_age, samesite="strict", path="/")
        log.info("api.login", user=ctx.config.username, client=client)
        return LoginOut(access_token=token, expires_at=claims.expires_at, csrf_token=claims.csrf)

    return router
