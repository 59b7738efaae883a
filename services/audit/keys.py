"""The sealer's Ed25519 key: from settings, or generated once in the data folder (mode 0600)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.audit.errors import AuditError
from services.settings import Settings

FILE = Path("audit") / "signing-key.pem"


def path(settings: Settings) -> Path:
    return Path(settings.data_dir) / FILE


def _text(value: str) -> bytes:
    """PEM text as given, or the contents of the file it names."""
    if "-----BEGIN" in value:
        return value.encode()
    try:
        return Path(value).expanduser().read_bytes()
    except OSError as exc:
        raise AuditError(f"PARLEY_AUDIT_SIGNING_KEY: cannot read {value}: {exc.strerror}") from None


def private(settings: Settings, *, create: bool = False) -> Ed25519PrivateKey:
    """The signing key; ``create`` generates and stores one when neither setting nor file exists."""
    if settings.audit_signing_key:
        data, where = _text(settings.audit_signing_key), "PARLEY_AUDIT_SIGNING_KEY"
    else:
        file = path(settings)
        if not file.exists():
            if not create:
                raise AuditError(
                    f"no signing key in {file} (run `parley audit seal` once, or set PARLEY_AUDIT_SIGNING_KEY)"
                )
            return _generate(file)
        data, where = file.read_bytes(), str(file)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise AuditError(f"{where}: not a PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditError(f"{where}: not an Ed25519 key")
    return key


def _generate(file: Path) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    file.parent.mkdir(parents=True, exist_ok=True)
    try:  # O_EXCL: two sealers starting at once keep one key, never overwrite each other's
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return serialization.load_pem_private_key(file.read_bytes(), password=None)  # type: ignore[return-value]
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return key


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public(text: bytes, where: str) -> Ed25519PublicKey:
    """A public key as PEM, or as base64 of the 32 raw bytes."""
    try:
        if b"-----BEGIN" in text:
            key = serialization.load_pem_public_key(text)
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(text.strip(), validate=True))
    except (ValueError, TypeError) as exc:
        raise AuditError(f"{where}: not an Ed25519 public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AuditError(f"{where}: not an Ed25519 public key")
    return key
