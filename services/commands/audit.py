"""``parley audit seal|pubkey|verify``: options here, the work in ``services/audit/``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from services.commands import common

app = typer.Typer(
    help="Tamper evidence: the hash chain over the event log and its signed checkpoints.", no_args_is_help=True
)


@app.command()
def seal() -> None:
    """Fold the log into the hash chain; publish a signed checkpoint every N events or T seconds."""
    from services.audit import seal as sealer

    sealer.main(common.boot("audit-seal"))


@app.command()
def pubkey() -> None:
    """Print the sealer's public key (PEM); give it to auditors for `verify --pubkey`."""
    from services.audit import verify as check

    print(check.pubkey(common.boot("audit-pubkey")), end="")


@app.command()
def verify(
    session: Annotated[str | None, typer.Option("--session", help="Check one session's events only.")] = None,
    pubkey_file: Annotated[
        Path | None,
        typer.Option("--pubkey", help="The sealer's public key (PEM or base64); default: this data folder's."),
    ] = None,
) -> None:
    """Check the log against the signed checkpoints: exit 0 if intact, 1 naming the first bad sequence."""
    from services.audit import verify as check

    raise typer.Exit(check.main(common.boot("audit-verify"), session, pubkey_file))
