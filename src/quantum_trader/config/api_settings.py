"""The operator API's settings (``quantum-trader serve``, docs/api.md), mixed into
:class:`quantum_trader.config.settings.Settings`; the ports' ranges are in its NUMERIC_BOUNDS.

The password and secret are empty by default: every other command runs without them and
``serve`` refuses to start until both are set. A set value that anyone would guess first
is refused by the loader, like any other nonsense value; the message never repeats it.
"""

from __future__ import annotations

import re

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: passwords and secrets that anyone would try first (compared case-insensitively)
WEAK_CREDENTIALS = frozenset(
    {"admin", "password", "changeme", "secret", "operator", "qwerty", "123456", "letmein"}
)
#: bytes of the tokens' HS256 key: RFC 7518 (section 3.2) asks for a key at least as long as the
#: hash's output, 256 bits; PyJWT warns below it
MIN_API_SECRET = 32
_HOST = re.compile(r"^[A-Za-z0-9.:\[\]-]{1,253}$")
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,100}$")

API_ACCEPTED = {
    "api_host": "an IP address or host name to bind (127.0.0.1: this machine only)",
    "api_username": "1 to 100 letters, digits or _.@-",
    "api_password": "empty (serve refuses to start) or a value that is not a well-known default",
    "api_secret": f"empty (serve refuses to start) or at least {MIN_API_SECRET} bytes, "
    "not a well-known default; e.g. `openssl rand -hex 32`",
}


class ApiSettings(BaseSettings):
    """Where ``serve`` listens and whom it lets in."""

    model_config = SettingsConfigDict(
        frozen=True, extra="ignore", populate_by_name=True, case_sensitive=True
    )

    api_host: str = Field("127.0.0.1", validation_alias=AliasChoices("QT_API_HOST", "api_host"))
    api_port: int = Field(8420, validation_alias=AliasChoices("QT_API_PORT", "api_port"))
    api_username: str = Field(
        "operator", validation_alias=AliasChoices("QT_API_USERNAME", "api_username")
    )
    api_password: SecretStr | None = Field(
        None, validation_alias=AliasChoices("QT_API_PASSWORD", "api_password")
    )
    api_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("QT_API_SECRET", "api_secret")
    )
    api_token_minutes: int = Field(
        60, validation_alias=AliasChoices("QT_API_TOKEN_MINUTES", "api_token_minutes")
    )

    @field_validator("api_host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not _HOST.match(value):
            raise ValueError("not a host to bind")
        return value

    @field_validator("api_username")
    @classmethod
    def _username(cls, value: str) -> str:
        if not _USERNAME.match(value):
            raise ValueError("not a user name")
        return value

    @field_validator("api_password", "api_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value else value

    @field_validator("api_password")
    @classmethod
    def _password(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().lower() in WEAK_CREDENTIALS:
            raise ValueError("a well-known default")
        return value

    @field_validator("api_secret")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return value
        text = value.get_secret_value()
        if text.lower() in WEAK_CREDENTIALS or len(text.encode()) < MIN_API_SECRET:
            raise ValueError(f"a well-known default or under {MIN_API_SECRET} bytes")
        return value
