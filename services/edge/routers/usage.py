"""Usage analytics from the usage projection: your own, or everyone's for an admin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from projections import usage_report
from services.edge.access import db
from services.edge.deps import ChatDep, SettingsDep, User
from services.edge.errors import Invalid

router = APIRouter(tags=["usage"])

DEFAULT_SPAN = timedelta(hours=24)
MAX_SPAN = timedelta(days=400)


def _utc(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise Invalid(f"{name}: a time needs a timezone (e.g. Z)", name)
    return value.astimezone(UTC)


@router.get("/usage")
async def usage(
    request: Request,
    chat: ChatDep,
    settings: SettingsDep,
    user: User,
    start: Annotated[datetime | None, Query(alias="from", description="ISO 8601; default: `to` minus 24 h")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="ISO 8601, exclusive; default: now")] = None,
    group_by: Annotated[Literal["model", "provider", "user", "hour"], Query()] = "model",
) -> dict[str, Any]:
    """Answers, tokens, errors by kind, cancels and timing histograms per hour of the usage
    projection in [from, to), summed per ``group_by``. Users see their own usage; admins
    (``PARLEY_ADMIN_USERS``) see everyone's."""
    end = _utc(end, "to") or datetime.now(UTC)
    start = _utc(start, "from") or end - DEFAULT_SPAN
    if start >= end:
        raise Invalid("from must be before to", "from")
    if end - start > MAX_SPAN:
        raise Invalid(f"at most {MAX_SPAN.days} days at once", "from")
    admin = not request.app.state.auth.enabled or user in settings.admin_users
    # Hourly rows: widen `from` to its hour, so the hour it falls in is counted whole.
    rows = await db(
        usage_report.hourly(chat.pool, start.replace(minute=0, second=0, microsecond=0), end, None if admin else user)
    )
    return {
        "from": start,
        "to": end,
        "group_by": group_by,
        "scope": "all" if admin else "own",
        **usage_report.summarize(rows, group_by),
    }
