"""Who is calling: verify a bearer JWT (HS256 secret or RS256 public key) and return its ``sub``.

With neither key configured auth is off and every caller is ``LOCAL_USER``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from services.edge.errors import Unauthorized
from services.errors import SettingsError
from services.settings import Settings

LOCAL_USER = "local"
# user ids end up in VARCHAR(255) columns: a longer `sub` would be accepted here and lost later.
MAX_USER_ID = 255


def read_public_key(value: str) -> str:
    """PEM text as given, or the contents of the file it names; fails naming the variable."""
    text = value if value.lstrip().startswith("-----BEGIN") else None
    if text is None:
        try:
            text = Path(value).expanduser().read_text()
        except OSError as exc:
            raise SettingsError(f"PARLEY_JWT_PUBLIC_KEY: neither PEM text nor a readable file: {exc}") from None
    try:
        load_pem_public_key(text.encode())
    except ValueError as exc:
        raise SettingsError(f"PARLEY_JWT_PUBLIC_KEY: not a PEM public key: {exc}") from None
    return text


@dataclass(frozen=True, slots=True)
class Identity:
    user_id: str
    # Unix time after which the token no longer counts (its ``exp`` plus the leeway); None: never.
    expires_at: float | None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings) -> None:
    """With auth off the edge must not listen where others can reach it, unless told to."""
    if settings.auth_enabled or settings.allow_insecure or is_loopback(settings.host):
        return
    raise SettingsError(
        f"PARLEY_HOST={settings.host} with auth off would give anyone who reaches it the one local user's data:"
        " set PARLEY_JWT_SECRET (or PARLEY_JWT_PUBLIC_KEY), or PARLEY_ALLOW_INSECURE=1 if that is really meant"
    )


@dataclass(frozen=True, slots=True)
class Authenticator:
    # algorithm -> verification key; empty when auth is off
    keys: dict[str, str]
    audience: str | None = None
    issuer: str | None = None
    leeway_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        keys: dict[str, str] = {}
        if settings.jwt_secret:
            keys["HS256"] = settings.jwt_secret
        if settings.jwt_public_key:
            keys["RS256"] = read_public_key(settings.jwt_public_key)
        return cls(
            keys=keys, audience=settings.jwt_audience, issuer=settings.jwt_issuer, leeway_s=settings.jwt_leeway_s
        )

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def user_of(self, token: str | None) -> str:
        """The token's subject, or ``Unauthorized`` saying what is wrong with it."""
        return self.identity(token).user_id

    def identity(self, token: str | None) -> Identity:
        """Who the token names and until when, or ``Unauthorized`` saying what is wrong with it."""
        if not self.enabled:
            return Identity(LOCAL_USER, None)
        if not token:
            raise Unauthorized("missing bearer token")
        try:
            alg = jwt.get_unverified_header(token).get("alg")
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"malformed token: {exc}") from None
        # Pick the key by the token's algorithm, and accept only that algorithm with it: a token
        # signed HS256 with the RS256 public key as secret must not pass (algorithm confusion).
        key = self.keys.get(alg) if isinstance(alg, str) else None
        if key is None:
            raise Unauthorized(f"token algorithm {alg!r} not accepted (accepted: {', '.join(sorted(self.keys))})")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                # A token without `exp` would be valid forever: refused.
                options={"require": ["sub", "exp"], "verify_aud": self.audience is not None},
            )
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"invalid token: {exc}") from None
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub or len(sub) > MAX_USER_ID:
            raise Unauthorized("token subject must be a non-empty string of at most 255 characters")
        return Identity(sub, float(claims["exp"]) + self.leeway_s)


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
