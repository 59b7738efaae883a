"""The long-running services, each its own process: ``parley edge|generation|projections``.
They are the same commands ``parley up`` starts and an operator scales out."""

from __future__ import annotations

import importlib

import typer

from services.commands import common
from services.errors import ParleyError


def run_service(name: str, module: str, function: str = "main") -> None:
    """Import ``module`` and run ``function(settings)``; a module missing from this build is one line."""
    settings = common.boot(name)
    try:
        target = getattr(importlib.import_module(module), function)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            raise ParleyError(f"{module} is not part of this build") from None
        raise
    target(settings)


def edge() -> None:
    """REST + WebSocket edge (FastAPI/uvicorn) on PARLEY_HOST:PARLEY_PORT."""
    run_service("edge", "services.edge.main")


def generation() -> None:
    """A generation worker: prompts in, streamed answers out (scale by running more)."""
    run_service("generation", "services.generation.main")


def projections_group(ctx: typer.Context) -> None:
    """Projection workers: keep the PostgreSQL read models up to date with the stream."""
    if ctx.invoked_subcommand is None:  # `parley projections` alone runs the workers
        run_service("projections", "projections.main")


def projections_rebuild() -> None:
    """Empty the read models and replay the whole stream into them."""
    run_service("projections-rebuild", "projections.main", "rebuild")
