"""``CheckedRoute``: every REST route's query and JSON body pass ``inputs.problem`` before
FastAPI validates them, and validation errors render whatever the client sent (a 422 must never
turn into a 500 because its body cannot encode the bad value)."""

from __future__ import annotations

import email.message
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from services.edge import inputs

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _is_json(content_type: str | None) -> bool:
    # As FastAPI decides it: no content type, or application/json or application/*+json.
    if not content_type:
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def refusal(loc: tuple[Any, ...], why: str, kind: str = "value_error") -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": loc, "msg": why}])


async def check(request: Request) -> None:
    """Raise a 422 for a query value or JSON body no part of Parley can take."""
    for name, value in request.query_params.multi_items():
        if why := inputs.text_problem(value):
            raise refusal(("query", name), why)
    if request.method not in BODY_METHODS or not _is_json(request.headers.get("content-type")):
        return
    body = await request.body()
    if not body:
        return
    try:
        value = json.loads(body, parse_constant=inputs.reject_constant)
    except (ValueError, RecursionError) as exc:  # bad JSON, bad UTF-8, too many digits, too deep
        raise refusal(("body",), f"JSON decode error: {exc}", "json_invalid") from None
    if found := inputs.problem(value):
        path, why = found
        raise refusal(("body", *path), why)
    request._json = value  # FastAPI reads it from here instead of parsing again


class CheckedRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            await check(request)
            return await handler(request)

        return checked


def _printable(value: Any) -> Any:
    if isinstance(value, str) and inputs.text_problem(value):
        return value.encode("utf-8", "backslashreplace").decode()
    return value if isinstance(value, str | int) else str(value)


def _encodable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode()
    except (TypeError, ValueError):
        return False
    return True


def validation_errors(errors: Any) -> list[dict[str, Any]]:
    """FastAPI's validation errors as JSON can carry them: each ``input`` (and ``ctx``) only
    when it encodes; ``loc`` parts made printable."""
    rendered = []
    for error in errors:
        out: dict[str, Any] = {
            "type": str(error.get("type", "value_error")),
            "loc": [_printable(p) for p in error.get("loc", ())],
            "msg": _printable(str(error.get("msg", ""))),
        }
        for key in ("input", "ctx"):
            if key in error and _encodable(error[key]):
                out[key] = error[key]
        rendered.append(out)
    return rendered
