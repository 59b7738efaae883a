"""``parley migrate``."""

from __future__ import annotations

import asyncio

from services.commands import common


def migrate() -> None:
    """Apply the database migrations (DATABASE_URL, or the running `parley up`'s database)."""
    from projections import migrate as migrations
    from services import runtime

    settings = common.boot("migrate")
    applied = asyncio.run(migrations.migrate(runtime.resolve(settings).database_url))
    names = [f"{m.version:03d}_{m.name}" for m in applied]
    print("applied: " + ", ".join(names) if names else "database is up to date")
