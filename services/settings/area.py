"""What every area of the settings shares: how a field names its variable, and the parsing rules
for values that are not plain scalars (comma lists, URLs)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AliasChoices, BeforeValidator, Field
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services import credentials


def env(name: str, description: str, **kwargs):
    return Field(validation_alias=AliasChoices(name), description=description, **kwargs)


class Area(BaseSettings):
    """The settings of one area (``Settings`` is all of them)."""

    # Empty values mean "unset": a blank NATS_URL= must not disable the embedded default by accident.
    model_config = SettingsConfigDict(extra="ignore", frozen=True, case_sensitive=True, env_ignore_empty=True)


def comma_list(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


# A comma separated list (NoDecode: not JSON, as pydantic-settings reads lists by default).
CommaList = Annotated[list[str], NoDecode, BeforeValidator(comma_list)]


def http_url(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"expected an http(s) URL, got {credentials.redact(value)!r}")
    return value.rstrip("/")
