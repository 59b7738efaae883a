"""``parley backup`` and ``parley restore``: options here, the work in ``services/backup.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from services.commands import common


def backup(
    target: Annotated[Path, typer.Argument(help="A new (or empty) folder to write the backup into.")],
    timestamped: Annotated[
        bool, typer.Option("--timestamped", help="Write into TARGET/<UTC time>/ (for a scheduled job).")
    ] = False,
    keep: Annotated[
        int, typer.Option("--keep", min=0, help="With --timestamped: keep only the N newest backups (0: all).")
    ] = 0,
) -> None:
    """Write a consistent backup: each stream's JetStream snapshot, the config bucket, the keys, a manifest.

    Reads NATS_URL, or the running `parley up`'s address; the keys come from PARLEY_DATA_DIR.
    PostgreSQL is not copied: `parley restore` rebuilds it from the streams.
    """
    from services.backup import run_backup

    settings = common.boot("backup")
    print(run_backup(settings, target, timestamped=timestamped, keep=keep))


def restore(
    source: Annotated[Path, typer.Argument(help="A folder written by `parley backup`.")],
) -> None:
    """Rebuild a system from a backup: streams, keys, then the projections replayed from the streams.

    Into an empty PARLEY_DATA_DIR (embedded NATS and PostgreSQL are started for it and stopped
    afterwards; `parley up` then runs on it), or into the servers NATS_URL and DATABASE_URL name,
    which must not hold Parley's streams yet.
    """
    from services.backup import restore as run_restore

    settings = common.boot("restore")
    print(run_restore(settings, source))
