"""Access tokens: HS256 JWTs whose expiry is checked against the injected clock.

A token carries the user (``sub``), its expiry (``exp``, seconds) and the CSRF value of the
cookie session it was issued with (``csrf``), so a CSRF header must match the session, not only
the readable cookie.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import jwt

from quantum_trader.clock.clock import Clock

ALGORITHM = "HS256"
#: verified tokens kept (one per login; cleared when full)
VERIFIED_KEPT = 1024


@dataclass(frozen=True, slots=True)
class Token:
    """A verified token's claims."""

    username: str
    expires_at: int  # epoch seconds
    csrf: str


class TokenIssuer:
    """Signs and verifies access tokens with one secret."""

    def __init__(self, secret: str, minutes: int, clock: Clock) -> None:
        self._secret = secret
        self._seconds = minutes * 60
        self._clock = clock
        self._verified: dict[str, Token] = {}  # token -> its claims, signature checked

    def issue(self, username: str) -> tuple[str, Token]:
        now = self._clock.now() // 1000
        claims = Token(username, now + self._seconds, secrets.token_urlsafe(24))
        payload = {"sub": username, "iat": now, "exp": claims.expires_at, "csrf": claims.csrf}
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM), claims

    def verify(self, token: str) -> Token | None:
        """The claims of a valid token; None for a tampered, foreign, unsigned (``alg=none``),
        malformed or expired one. Only HS256 is accepted.

        A token's signature is checked once: its claims are kept by the exact token string
        (the same string always decodes to the same claims under this secret), and only the
        expiry is judged again at every request (pyjwt spends ~0.1 ms per decode, most of a
        kept answer's cost)."""
        claims = self._verified.get(token)
        if claims is None:
            claims = self._decode(token)
            if claims is None:
                return None  # refused tokens are never kept: nobody fills this with junk
            if len(self._verified) >= VERIFIED_KEPT:
                self._verified.clear()
            self._verified[token] = claims
        # exp (and iat) are judged on the injected clock, not the host's
        if claims.expires_at <= self._clock.now() // 1000:
            return None
        return claims

    def _decode(self, token: str) -> Token | None:
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "require": ["sub", "exp", "csrf"],
                },
            )
        except jwt.PyJWTError:
            return None
        sub, exp, csrf = payload.get("sub"), payload.get("exp"), payload.get("csrf")
        if not isinstance(sub, str) or not isinstance(exp, int) or not isinstance(csrf, str):
            return None
        return Token(sub, exp, csrf)
