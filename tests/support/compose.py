"""deploy/compose.yaml run without Docker: each service's command as a local process, with the
environment compose gives it (interpolated from a .env made by deploy/new-env.sh), its host
names and container ports mapped to free local ports and its volumes to temporary directories.

What is not started: the postgres container (the local PostgreSQL server is used, with the
databases and roles its init script creates, under a unique prefix; SQLite when there is no
server), nginx (a Python static server serves the same pages volume), and profiled services.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy.engine import make_url

from tests.support.databases import execute, postgres_url, reachable
from tools.natsserver import nats_server_binary

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE_FILE = DEPLOY / "compose.yaml"
NIANBAO_BIN = str(Path(sys.executable).parent / "nianbao")
#: the container ports each service listens on (checked against compose.yaml by the tests)
LISTENS: dict[str, tuple[int, ...]] = {
    "nats": (4222, 8222, 6222),
    "intake": (8000, 8004),
    "validator": (8001,),
    "aggregator": (8002,),
    "publisher": (8003,),
    "verifier": (8005,),
    "pages": (8080,),
    "postgres": (5432,),
    "prometheus": (9090,),
}
#: environment the nianbao image sets (deploy/Dockerfile)
IMAGE_ENV = {"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
_VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<bare>[A-Za-z_]\w*))")
_BRACED = re.compile(r"(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.S)


class MissingVariable(ValueError):
    """A ``${VAR:?message}`` whose variable is unset or empty."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's variable interpolation: $VAR, ${VAR}, ${VAR:-default}, ${VAR:?error}, $$."""

    def value(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        if match.group("bare"):
            return env.get(match.group("bare"), "")
        parts = _BRACED.fullmatch(match.group("braced"))
        if parts is None:
            raise ValueError(f"bad interpolation {match.group(0)!r}")
        name, op, arg = parts.group("name"), parts.group("op"), parts.group("arg") or ""
        current = env.get(name)
        set_, non_empty = current is not None, bool(current)
        if op is None:
            return current or ""
        if op in (":-", "-"):
            return current if (non_empty if op == ":-" else set_) else arg  # type: ignore[return-value]
        if op in (":?", "?"):
            if not (non_empty if op == ":?" else set_):
                raise MissingVariable(f"{name}: {arg}")
            return current or ""
        return arg if (non_empty if op == ":+" else set_) else ""

    return _VARIABLE.sub(value, text)


def resolve(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [resolve(item, env) for item in node]
    if isinstance(node, dict):
        return {key: resolve(item, env) for key, item in node.items()}
    return node


def read_env_file(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        out[key.strip()] = value.strip().strip("'\"")
    return out


def load_compose(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """compose.yaml with anchors merged; interpolated when ``env`` is given."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return raw if env is None else dict(resolve(raw, env))


def default_services(compose: dict[str, Any]) -> list[str]:
    """Services `docker compose up` starts (no profile)."""
    return [name for name, spec in compose["services"].items() if not spec.get("profiles")]


def kind_of(service: str) -> str:
    return "nats" if re.fullmatch(r"nats-\d+", service) else service


#: ports handed out for the deployment's listeners: below Linux's ephemeral range (32768 and up),
#: where the kernel never puts the local end of an outgoing connection. A port the kernel hands
#: out (bind to 0) is free only until some connection takes it as its local port, and a server
#: restarted later (a NATS node brought back) then finds it taken.
_LISTEN_PORTS = range(20000, 32768)
_handed_out: set[int] = set()


def free_port() -> int:
    for _ in range(1000):
        port = secrets.choice(_LISTEN_PORTS)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")


def as_list(command: str | list[str]) -> list[str]:
    return command.split() if isinstance(command, str) else list(command)


@dataclass
class Instance:
    """One running replica of a compose service."""

    name: str  # e.g. "validator-2"
    service: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log: Path
    restart: str = "no"
    process: subprocess.Popen[bytes] | None = None
    #: stopped on purpose (docker compose stop/kill): its restart policy does not apply
    down: bool = True
    restarts: int = 0

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.argv, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT
            )
        self.down = False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def crashed(self) -> bool:
        """Exited by itself: docker would restart it (restart: unless-stopped)."""
        return not self.down and self.process is not None and self.process.poll() is not None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        self.down = True
        if not self.alive():
            return
        assert self.process is not None
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Deployment:
    """The compose deployment as local processes."""

    root: Path
    env_file: dict[str, str]
    compose: dict[str, Any]
    postgres_url: str | None  # the local server standing in for the postgres service
    db_prefix: str
    scale: dict[str, int] = field(default_factory=dict)
    ports: dict[tuple[str, int], int] = field(default_factory=dict)
    instances: dict[str, Instance] = field(default_factory=dict)
    _closing: threading.Event = field(default_factory=threading.Event)
    _supervisor: threading.Thread | None = None

    def supervise(self) -> None:
        """Apply the restart policies (docker restarts a container that exits by itself)."""

        def loop() -> None:
            while not self._closing.wait(0.5):
                for instance in list(self.instances.values()):
                    if instance.crashed() and instance.restart in ("always", "unless-stopped"):
                        instance.restarts += 1
                        instance.start()

        self._supervisor = threading.Thread(target=loop, name="restart-policy", daemon=True)
        self._supervisor.start()

    # ------------------------------------------------------------------ mapping
    def replicas(self, service: str) -> list[str]:
        count = self.scale.get(service, 1)
        return [service] if count == 1 else [f"{service}-{i}" for i in range(1, count + 1)]

    def allocate_ports(self) -> None:
        for service in self.compose["services"]:
            for name in self.replicas(service):
                for port in LISTENS.get(kind_of(service), ()):
                    self.ports[(name, port)] = free_port()
        if self.postgres_url is not None:
            pg = make_url(self.postgres_url)
            self.ports[("postgres", 5432)] = pg.port or 5432

    def volume_dir(self, volume: str) -> Path:
        path = self.root / "volumes" / volume
        path.mkdir(parents=True, exist_ok=True)
        return path

    def mounts(self, service: str, instance: str) -> dict[str, Path]:
        """container path -> local path, for the service's volumes."""
        out: dict[str, Path] = {}
        for index, entry in enumerate(self.compose["services"][service].get("volumes", [])):
            source, target = entry.split(":")[:2]
            if source.startswith((".", "/")):
                local = (DEPLOY / source).resolve()
                if kind_of(service) == "nats":  # its config names hosts and paths: a copy
                    copy = self.root / instance / f"mount{index}"
                    shutil.copytree(local, copy, dirs_exist_ok=True)
                    local = copy
                out[target] = local
            else:
                out[target] = self.volume_dir(source)
        return out

    def localize(self, text: str, instance: str, mounts: Mapping[str, Path]) -> str:
        """Host names, container ports and container paths of ``text``, as seen locally."""
        replacements: dict[str, str] = {}
        for (name, port), local in self.ports.items():
            host = "127.0.0.1" if name != "postgres" or self.postgres_url is None else None
            if host is not None:
                replacements[f"{name}:{port}"] = f"{host}:{local}"
            if name == instance:
                for own in ("0.0.0.0", "127.0.0.1", "localhost"):
                    replacements[f"{own}:{port}"] = f"127.0.0.1:{local}"
        for target, path in mounts.items():
            replacements[target] = str(path)
        if not replacements:
            return text
        pattern = re.compile(
            r"(?<![\w.-])("
            + "|".join(re.escape(k) for k in sorted(replacements, key=len, reverse=True))
            + r")(?![\w-])"
        )
        return pattern.sub(lambda m: replacements[m.group(1)], text)

    def local_database_url(self, url: str, instance: str) -> str:
        """A service's postgres URL: the local server, the prefixed role and database; or SQLite."""
        parsed = make_url(url)
        if self.postgres_url is None:
            data = self.root / instance / "data"
            data.mkdir(parents=True, exist_ok=True)
            return f"sqlite+aiosqlite:///{data / (parsed.database or 'db')}.db"
        server = make_url(self.postgres_url)
        return parsed.set(
            host=server.host,
            port=server.port,
            username=f"{self.db_prefix}{parsed.username}",
            database=f"{self.db_prefix}{parsed.database}",
        ).render_as_string(hide_password=False)

    def environment(
        self, service: str, instance: str, mounts: Mapping[str, Path]
    ) -> dict[str, str]:
        spec = self.compose["services"][service]
        own_ports = {str(port) for (name, port) in self.ports if name == instance}
        env = {"PATH": os.environ["PATH"], "HOME": str(self.root), "LANG": "C.UTF-8"}
        if spec.get("build"):
            env.update(IMAGE_ENV)
            if "PYTHONPATH" in os.environ:  # the code under test, not what the venv installed
                env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        for key, value in (spec.get("environment") or {}).items():
            value = "" if value is None else str(value)
            if value.startswith("postgresql") and "@postgres:" in value:
                value = self.local_database_url(value, instance)
            elif key.endswith("_PORT") and value in own_ports:
                value = str(self.ports[(instance, int(value))])
            elif value == "0.0.0.0":
                value = "127.0.0.1"
            else:
                value = self.localize(value, instance, mounts)
            env[key] = value
        return env

    def argv(self, service: str, instance: str, mounts: Mapping[str, Path]) -> list[str]:
        spec = self.compose["services"][service]
        command = [self.localize(a, instance, mounts) for a in as_list(spec["command"])]
        image = str(spec.get("image", ""))
        if image.startswith("nats:"):
            return [nats_server_binary(), *command]
        if command[0] == "nianbao":
            return [NIANBAO_BIN, *command[1:]]
        raise ValueError(f"no local stand-in for {service} ({image})")

    # ------------------------------------------------------------------ lifecycle
    def prepare(self, service: str) -> list[Instance]:
        made = []
        for name in self.replicas(service):
            mounts = self.mounts(service, name)
            if kind_of(service) == "nats":  # its config, copied: hosts, ports, paths as here
                for copy in (p for p in mounts.values() if p.is_relative_to(self.root / name)):
                    for conf in copy.glob("*.conf"):
                        text = conf.read_text(encoding="utf-8")
                        conf.write_text(self.localize(text, name, mounts), encoding="utf-8")
            cwd = self.root / name
            cwd.mkdir(parents=True, exist_ok=True)
            instance = Instance(
                name=name,
                service=service,
                argv=self.argv(service, name, mounts),
                env=self.environment(service, name, mounts),
                cwd=cwd,
                log=self.root / "logs" / f"{name}.log",
                restart=str(self.compose["services"][service].get("restart", "no")),
            )
            instance.log.parent.mkdir(parents=True, exist_ok=True)
            self.instances[name] = instance
            made.append(instance)
        return made

    def start_pages_server(self) -> Instance:
        """nginx's stand-in: a static server on the same volume, read-only in spirit."""
        mounts = self.mounts("pages", "pages")
        (root,) = [path for target, path in mounts.items() if target == "/usr/share/nginx/html"]
        port = self.ports[("pages", 8080)]
        instance = Instance(
            name="pages",
            service="pages",
            argv=[sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
            env={"PATH": os.environ["PATH"]},
            cwd=root,
            log=self.root / "logs" / "pages.log",
        )
        instance.start()
        self.instances["pages"] = instance
        return instance

    def healthcheck(self, instance: str) -> bool:
        """Run the service's compose health check, localized (wget emulated if missing)."""
        item = self.instances[instance]
        test = as_list(self.compose["services"][item.service]["healthcheck"]["test"])
        assert test[0] == "CMD", test
        argv = [self.localize(a, instance, {}) for a in test[1:]]
        if argv[0] == "python":
            argv[0] = sys.executable
        if argv[0] == "wget" and shutil.which("wget") is None:
            try:
                return httpx.get(argv[-1], timeout=3).is_success
            except httpx.HTTPError:
                return False
        try:
            done = subprocess.run(argv, env=item.env, capture_output=True, timeout=10)
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0

    def wait_healthy(self, names: list[str], timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        pending = list(names)
        while pending:
            for name in list(pending):
                instance = self.instances[name]
                if instance.restarts > 5:
                    raise RuntimeError(f"{name} keeps exiting; see {instance.log}")
                if instance.alive() and self.healthcheck(name):
                    pending.remove(name)
            if pending and time.monotonic() > deadline:
                tails = {
                    n: self.instances[n].log.read_text(errors="replace")[-1500:] for n in pending
                }
                raise TimeoutError(f"not healthy within {timeout} s: {pending}\n{tails}")
            time.sleep(0.2)

    def url(self, instance: str, port: int, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[(instance, port)]}{path}"

    def stop(self) -> None:
        self._closing.set()
        if self._supervisor is not None:
            self._supervisor.join()
        for instance in reversed(list(self.instances.values())):
            instance.stop()

    def logs(self, pattern: str) -> list[str]:
        """Lines of every process log matching ``pattern``."""
        found = []
        for log in sorted((self.root / "logs").glob("*.log")):
            for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
                if re.search(pattern, line):
                    found.append(f"{log.stem}: {line}")
        return found


# ---------------------------------------------------------------- `docker compose up`

#: `docker compose up -d --scale validator=2 --scale aggregator=2`: two members of each durable
#: consumer (aggregator replicas take turns through a PostgreSQL advisory lock: one on SQLite)
SCALE = {"validator": 2, "aggregator": 2 if postgres_url() else 1}
NATS_NODES = ("nats-1", "nats-2", "nats-3")
#: run to completion before the services start (`service_completed_successfully`)
ONE_SHOTS = ("streams",)
SERVICES = ("intake", "validator", "aggregator", "publisher", "verifier")
DATABASES = ("intake", "aggregator", "publisher", "verifier")


def create_databases(deployment: Deployment) -> None:
    """What the postgres container does on its first start: run the init script."""
    assert deployment.postgres_url is not None
    server = make_url(deployment.postgres_url)
    spec = deployment.compose["services"]["postgres"]
    (script,) = [v.split(":")[0] for v in spec["volumes"] if "docker-entrypoint-initdb.d" in v]
    env = {
        **{k: str(v) for k, v in spec["environment"].items()},
        "PATH": os.environ["PATH"],
        "POSTGRES_USER": server.username or "postgres",
        "POSTGRES_DB": server.database or "postgres",
        "PGHOST": server.host or "127.0.0.1",
        "PGPORT": str(server.port or 5432),
        "PGPASSWORD": server.password or "",
        "DB_NAME_PREFIX": deployment.db_prefix,
    }
    subprocess.run(["sh", str(DEPLOY / script)], env=env, check=True, capture_output=True)


def drop_databases(deployment: Deployment) -> None:
    assert deployment.postgres_url is not None
    for name in DATABASES:
        full = f"{deployment.db_prefix}{name}"
        execute(
            deployment.postgres_url,
            f'DROP DATABASE IF EXISTS "{full}" WITH (FORCE)',
            f'DROP ROLE IF EXISTS "{full}"',
        )


def run_to_completion(deployment: Deployment, service: str, timeout: float = 60) -> None:
    """A one-shot service: started, and it must exit 0 (else compose starts nothing after it)."""
    for instance in deployment.prepare(service):
        instance.start()
        assert instance.process is not None
        code = instance.process.wait(timeout)
        instance.down = True
        log = instance.log.read_text(encoding="utf-8", errors="replace")
        assert code == 0, f"{instance.name} exited with {code}:\n{log[-2000:]}"


def start(deployment: Deployment, services: tuple[str, ...]) -> list[str]:
    """Start every replica of ``services``; their instance names."""
    names = []
    for service in services:
        for instance in deployment.prepare(service):
            instance.start()
            names.append(instance.name)
    return names


def new_deployment(root: Path) -> Deployment:
    """The deployment in ``root`` with a fresh .env (deploy/new-env.sh), nothing started."""
    env_path = root / ".env"
    subprocess.run(["sh", str(DEPLOY / "new-env.sh"), str(env_path)], check=True)
    env_file = read_env_file(env_path)
    server = postgres_url()
    running = Deployment(
        root=root,
        env_file=env_file,
        compose=load_compose(env_file),
        postgres_url=server if server and reachable(server) else None,
        db_prefix=f"nbdeploy_{secrets.token_hex(3)}_",
        scale=SCALE,
    )
    running.allocate_ports()
    return running


@contextmanager
def nats_cluster(root: Path) -> Iterator[Deployment]:
    """The deployment's three NATS nodes alone, each healthy; stopped on the way out."""
    running = new_deployment(root)
    try:
        running.wait_healthy(start(running, NATS_NODES), timeout=60)
        yield running
    finally:
        running.stop()


@contextmanager
def deployed(root: Path) -> Iterator[Deployment]:
    """The deployment in ``root`` with a fresh .env: the NATS cluster, the streams' admin step,
    then the services (each healthy), then the pages server; stopped and its databases dropped
    on the way out."""
    running = new_deployment(root)
    running.supervise()
    try:
        if running.postgres_url is not None:
            create_databases(running)
        running.wait_healthy(start(running, NATS_NODES), timeout=60)
        for one_shot in ONE_SHOTS:
            run_to_completion(running, one_shot)
        running.wait_healthy(start(running, SERVICES), timeout=120)
        running.start_pages_server()
        yield running
    finally:
        running.stop()
        if running.postgres_url is not None:
            drop_databases(running)


def issue_tokens(deployment: Deployment) -> dict[str, str]:
    """`docker compose run --rm intake nianbao deploy tokens`: the operator issues tokens."""
    intake = deployment.instances["intake"]
    out = deployment.root / "tokens.json"
    subprocess.run(
        [intake.argv[0], "deploy", "tokens", "--out", str(out)],
        env=intake.env,
        cwd=intake.cwd,
        check=True,
        capture_output=True,
    )
    issued: dict[str, str] = json.loads(Path(out).read_text(encoding="utf-8"))
    return issued
