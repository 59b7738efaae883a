"""services.edge.auth: bearer JWTs, HS256 and RS256, no server needed."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from services.edge.auth import LOCAL_USER, Authenticator, bearer, check_exposure, is_loopback
from services.edge.errors import Unauthorized
from services.errors import SettingsError
from services.settings import load

SECRET = "a-secret-long-enough-for-hs256-signatures"
FRESH = {"exp": int(time.time()) + 3600}


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def authenticator(**env: str) -> Authenticator:
    return Authenticator.from_settings(load(env))


def test_auth_off_is_one_local_user():
    auth = authenticator()
    assert not auth.enabled
    assert auth.user_of(None) == LOCAL_USER
    assert auth.user_of("anything") == LOCAL_USER


def test_hs256_subject_is_the_user():
    auth = authenticator(PARLEY_JWT_SECRET=SECRET)
    assert auth.user_of(jwt.encode({**FRESH, "sub": "alice"}, SECRET, algorithm="HS256")) == "alice"


@pytest.mark.parametrize(
    "token, why",
    [
        (None, "missing"),
        ("", "missing"),
        ("garbage", "malformed"),
        (jwt.encode({**FRESH, "sub": "alice"}, "another-secret-another-secret-another", algorithm="HS256"), "invalid"),
        (jwt.encode({**FRESH, "sub": "alice", "exp": int(time.time()) - 60}, SECRET, algorithm="HS256"), "expired"),
        (jwt.encode({**FRESH, "name": "alice"}, SECRET, algorithm="HS256"), "sub"),
        (jwt.encode({**FRESH, "sub": ""}, SECRET, algorithm="HS256"), "subject"),
        (jwt.encode({**FRESH, "sub": "x" * 256}, SECRET, algorithm="HS256"), "subject"),
        (jwt.encode({**FRESH, "sub": "alice"}, None, algorithm="none"), "not accepted"),
        (jwt.encode({**FRESH, "sub": "alice"}, SECRET * 2, algorithm="HS512"), "not accepted"),
    ],
)
def test_hs256_refusals_say_why(token, why):
    auth = authenticator(PARLEY_JWT_SECRET=SECRET)
    with pytest.raises(Unauthorized, match=why):
        auth.user_of(token)


def test_rs256_with_pem_text_and_with_a_file(rsa_keys, tmp_path):
    private, public = rsa_keys
    token = jwt.encode({**FRESH, "sub": "bob"}, private, algorithm="RS256")
    assert authenticator(PARLEY_JWT_PUBLIC_KEY=public).user_of(token) == "bob"
    path = tmp_path / "key.pem"
    path.write_text(public)
    auth = authenticator(PARLEY_JWT_PUBLIC_KEY=str(path))
    assert auth.keys == {"RS256": public}
    assert auth.user_of(token) == "bob"


def test_rs256_key_is_not_usable_as_an_hs256_secret(rsa_keys):
    """Algorithm confusion: an HS256 token signed with the public key as secret must fail."""
    import hashlib
    import hmac
    import json
    from base64 import urlsafe_b64encode

    _, public = rsa_keys

    def b64(data: bytes) -> bytes:
        return urlsafe_b64encode(data).rstrip(b"=")

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"sub": "mallory", **FRESH}).encode())
    signature = b64(hmac.new(public.encode(), head + b"." + body, hashlib.sha256).digest())
    forged = (head + b"." + body + b"." + signature).decode()
    with pytest.raises(Unauthorized, match="not accepted"):
        authenticator(PARLEY_JWT_PUBLIC_KEY=public).user_of(forged)


def test_audience_is_checked_when_set():
    auth = authenticator(PARLEY_JWT_SECRET=SECRET, PARLEY_JWT_AUDIENCE="parley")
    assert auth.user_of(jwt.encode({**FRESH, "sub": "a", "aud": "parley"}, SECRET, algorithm="HS256")) == "a"
    with pytest.raises(Unauthorized):
        auth.user_of(jwt.encode({**FRESH, "sub": "a", "aud": "other"}, SECRET, algorithm="HS256"))
    with pytest.raises(Unauthorized):
        auth.user_of(jwt.encode({**FRESH, "sub": "a"}, SECRET, algorithm="HS256"))


def test_bad_public_key_fails_at_start_naming_the_variable(tmp_path):
    with pytest.raises(SettingsError, match="PARLEY_JWT_PUBLIC_KEY"):
        authenticator(PARLEY_JWT_PUBLIC_KEY=str(tmp_path / "missing.pem"))
    with pytest.raises(SettingsError, match="PARLEY_JWT_PUBLIC_KEY"):
        authenticator(PARLEY_JWT_PUBLIC_KEY="-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")


def test_bearer_header_parsing():
    assert bearer("Bearer abc") == "abc"
    assert bearer("bearer  abc ") == "abc"
    assert bearer("Basic abc") is None
    assert bearer("Bearer") is None
    assert bearer(None) is None


def test_a_token_without_exp_is_refused():
    auth = authenticator(PARLEY_JWT_SECRET=SECRET)
    with pytest.raises(Unauthorized, match="exp"):
        auth.user_of(jwt.encode({"sub": "alice"}, SECRET, algorithm="HS256"))
    with pytest.raises(Unauthorized, match="exp"):
        auth.user_of(jwt.encode({"sub": "alice", "exp": "tomorrow"}, SECRET, algorithm="HS256"))


def test_leeway_and_expiry_time():
    ten_ago = jwt.encode({"sub": "a", "exp": int(time.time()) - 10}, SECRET, algorithm="HS256")
    lenient = authenticator(PARLEY_JWT_SECRET=SECRET, PARLEY_JWT_LEEWAY_S="30")
    assert lenient.user_of(ten_ago) == "a"
    with pytest.raises(Unauthorized, match="expired"):
        authenticator(PARLEY_JWT_SECRET=SECRET, PARLEY_JWT_LEEWAY_S="0").user_of(ten_ago)
    exp = int(time.time()) + 100
    identity = lenient.identity(jwt.encode({"sub": "a", "exp": exp}, SECRET, algorithm="HS256"))
    assert identity.user_id == "a" and identity.expires_at == exp + 30
    assert authenticator().identity(None).expires_at is None  # auth off: nothing expires


def test_issuer_is_checked_when_set():
    auth = authenticator(PARLEY_JWT_SECRET=SECRET, PARLEY_JWT_ISSUER="https://id.example")
    assert auth.user_of(jwt.encode({**FRESH, "sub": "a", "iss": "https://id.example"}, SECRET)) == "a"
    for claims in ({"iss": "https://evil.example"}, {}):
        with pytest.raises(Unauthorized, match="iss"):
            auth.user_of(jwt.encode({**FRESH, "sub": "a", **claims}, SECRET))


def test_a_short_hs256_secret_is_refused_at_start():
    with pytest.raises(SettingsError, match="PARLEY_JWT_SECRET"):
        load({"PARLEY_JWT_SECRET": "CHANGE-ME"})


@pytest.mark.parametrize(
    ("env", "refused"),
    [
        ({}, False),
        ({"PARLEY_HOST": "localhost"}, False),
        ({"PARLEY_HOST": "::1"}, False),
        ({"PARLEY_HOST": "127.0.0.2"}, False),
        ({"PARLEY_HOST": "0.0.0.0"}, True),
        ({"PARLEY_HOST": "::"}, True),
        ({"PARLEY_HOST": "10.1.2.3"}, True),
        ({"PARLEY_HOST": "edge.example"}, True),
        ({"PARLEY_HOST": "0.0.0.0", "PARLEY_ALLOW_INSECURE": "1"}, False),
        ({"PARLEY_HOST": "0.0.0.0", "PARLEY_JWT_SECRET": SECRET}, False),
    ],
)
def test_auth_off_is_refused_on_a_reachable_address(env, refused):
    settings = load(env)
    if refused:
        with pytest.raises(SettingsError, match="PARLEY_ALLOW_INSECURE"):
            check_exposure(settings)
    else:
        check_exposure(settings)
    assert is_loopback("127.0.0.1") and not is_loopback("0.0.0.0")
