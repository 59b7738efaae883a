"""nats-server's own CPU profile: Go's pprof, read from its profiling port (``--profile PORT``,
``prof_port`` in a config file) while the load runs, and reduced to where its time goes.

The profile is a gzipped ``perftools.profiles.Profile`` protobuf (github.com/google/pprof,
proto/profile.proto). It is parsed with the ``protobuf`` library from a descriptor of the few
fields needed, built here, so there is no generated code to keep in step with the runtime.
``parse`` and ``top`` are pure; ``record`` fetches one over HTTP.
"""

from __future__ import annotations

import asyncio
import gzip
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
# (message, [(field, number, type, repeated, message type)]) of profile.proto, as far as used.
_SCHEMA = {
    "ValueType": [("type", 1, _F.TYPE_INT64, False, None), ("unit", 2, _F.TYPE_INT64, False, None)],
    "Sample": [("location_id", 1, _F.TYPE_UINT64, True, None), ("value", 2, _F.TYPE_INT64, True, None)],
    "Line": [("function_id", 1, _F.TYPE_UINT64, False, None), ("line", 2, _F.TYPE_INT64, False, None)],
    "Location": [("id", 1, _F.TYPE_UINT64, False, None), ("line", 4, _F.TYPE_MESSAGE, True, "Line")],
    "Function": [("id", 1, _F.TYPE_UINT64, False, None), ("name", 2, _F.TYPE_INT64, False, None)],
    "Profile": [
        ("sample_type", 1, _F.TYPE_MESSAGE, True, "ValueType"),
        ("sample", 2, _F.TYPE_MESSAGE, True, "Sample"),
        ("location", 4, _F.TYPE_MESSAGE, True, "Location"),
        ("function", 5, _F.TYPE_MESSAGE, True, "Function"),
        ("string_table", 6, _F.TYPE_STRING, True, None),
        ("duration_nanos", 10, _F.TYPE_INT64, False, None),
        ("period", 12, _F.TYPE_INT64, False, None),
    ],
}


def _profile_class() -> Any:
    file = descriptor_pb2.FileDescriptorProto(name="parley_pprof.proto", package="perftools.profiles", syntax="proto3")
    for name, fields in _SCHEMA.items():
        message = file.message_type.add(name=name)
        for field, number, kind, repeated, type_name in fields:
            message.field.add(
                name=field,
                number=number,
                type=kind,
                label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL,
                type_name=f".perftools.profiles.{type_name}" if type_name else None,
            )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("perftools.profiles.Profile"))


Profile = _profile_class()


def parse(data: bytes) -> Any:
    """A Profile message from pprof's bytes (gzipped or not)."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    profile = Profile()
    profile.ParseFromString(data)
    return profile


def short(function: str) -> str:
    """The function's name without nats-server's module path."""
    return function.removeprefix("github.com/nats-io/nats-server/v2/")


def package(function: str) -> str:
    """``github.com/nats-io/nats-server/v2/server.(*fileStore).storeRawMsg`` -> ``server``;
    ``runtime.mallocgc``, ``internal/runtime/maps.x`` -> ``runtime``; any syscall -> ``syscall``."""
    path, _, last = function.rpartition("/")
    name = last.split(".", 1)[0]
    if "syscall" in path or name == "syscall":
        return "syscall"
    if path.startswith("internal/runtime") or name == "runtime":
        return "runtime"
    return name


def top(profile: Any, n: int = 12) -> dict[str, Any]:
    """CPU time of the profile: total, busy cores over its duration, and the functions and
    packages with the most self time, and the functions with the most time under them (%)."""
    strings = list(profile.string_table)
    kinds = [strings[v.type] for v in profile.sample_type]
    column = kinds.index("cpu") if "cpu" in kinds else len(kinds) - 1
    names = {f.id: strings[f.name] for f in profile.function}
    frames = {loc.id: [names.get(line.function_id, "?") for line in loc.line] or ["?"] for loc in profile.location}
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for sample in profile.sample:
        if not sample.value:
            continue
        value = sample.value[column]
        # location_id[0] is the innermost frame; its first line is the innermost inlined function.
        stack = [name for loc in sample.location_id for name in frames.get(loc, ["?"])]
        if not stack:
            continue
        total += value
        own[stack[0]] += value
        packages[package(stack[0])] += value
        for name in set(stack):
            inclusive[name] += value

    def pct(counter: Counter[str]) -> list[list[Any]]:
        return [[short(name), round(100 * v / total, 1)] for name, v in counter.most_common(n)] if total else []

    seconds = profile.duration_nanos / 1e9
    cpu_s = total / 1e9 if kinds and kinds[column] == "cpu" else None
    return {
        "seconds": round(seconds, 2),
        "cpu_s": round(cpu_s, 3) if cpu_s is not None else None,
        "cores": round(cpu_s / seconds, 3) if cpu_s is not None and seconds else None,
        "self": pct(own),
        "packages": pct(packages),
        "inclusive": pct(inclusive),
    }


async def record(port: int, seconds: float, out: Path, host: str = "127.0.0.1") -> dict[str, Any]:
    """Profile nats-server for ``seconds`` through its profiling port; keep the raw profile."""
    url = f"http://{host}:{port}/debug/pprof/profile?seconds={max(1, round(seconds))}"
    try:
        async with httpx.AsyncClient(timeout=seconds + 30) as http:
            response = await http.get(url)
            response.raise_for_status()
    except httpx.HTTPError as exc:
        return {"error": f"no profile from nats-server's profiling port {port}: {exc!r}"}
    await asyncio.to_thread(_keep, out, response.content)
    return top(parse(response.content))


def _keep(out: Path, data: bytes) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)  # for `go tool pprof` or speedscope
