"""One typed settings object per process, read from environment variables (``pydantic-settings``).

Every field names its variable (``env(NAME, description, ...)``); ``load()`` turns a missing or
malformed value into one ``SettingsError`` line naming it. ``load(mapping)`` reads that mapping
instead of ``os.environ`` (a settings source built from it), so tests never see the caller's
environment. The README's settings table is generated from this class (``parley settings``).

The fields are declared by area, one class each; ``Settings`` is all of them:

area.py            ``env()``, the shared config and value rules (comma lists, http URLs)
infrastructure.py  NATS, PostgreSQL, the embedded servers, the stream's limits
edge.py            listening, sockets, auth, fair use per user
generation.py      workers, providers and failover, chunking, redelivery
operations.py      projections, the audit sealer, logs and traces
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import AliasChoices, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource
from pydantic_settings.sources.utils import parse_env_vars

from services.errors import SettingsError
from services.settings.edge import Edge
from services.settings.generation import Generation, Provider
from services.settings.infrastructure import Infrastructure
from services.settings.operations import Audit, Observability, Projections

__all__ = ["SECRETS", "Provider", "Settings", "load", "table", "variable_of"]


# Every setting of every area. pydantic lists the fields of the last base first: the README's
# table follows this order, reversed. The areas' validators become methods of this one class, so
# their names must differ. (No docstring: it would become the JSON schema's description.)
class Settings(Observability, Audit, Projections, Generation, Edge, Infrastructure):
    pass


def variable_of(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    return alias.choices[0] if isinstance(alias, AliasChoices) else field.upper()


class _Environ(EnvSettingsSource):
    """Environment variables from a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


# Never quoted in an error: an error message ends up in logs and terminals.
SECRETS = frozenset(
    {
        "PARLEY_JWT_SECRET",
        "PARLEY_NATS_STORE_KEY",
        "PARLEY_METRICS_TOKEN",
        "PARLEY_LOCAL_API_KEY",
        "OPENROUTER_API_KEY",
    }
)


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings from ``environ`` (default ``os.environ``); raise one clear ``SettingsError``."""
    source = os.environ if environ is None else environ
    try:
        return Settings(_build_sources=((_Environ(Settings, source),), {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        var = str(first["loc"][0]) if first["loc"] else "settings"
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] != "value_error" and var not in SECRETS:  # our own validators quote it, redacted
            message += f" (got {source.get(var, '')!r})"
        raise SettingsError(f"{var}: {message}") from None


def table() -> str:
    """The Markdown table of every setting, for the README."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        shown = (
            "unset" if default is None else ", ".join(default) or "empty" if isinstance(default, list) else str(default)
        )
        rows.append(f"| `{variable_of(name)}` | `{shown}` | {field.description} |")
    return "\n".join(rows)
