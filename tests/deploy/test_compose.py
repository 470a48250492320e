"""deploy/ checked without Docker: the compose file against the compose specification, its
settings, secrets, health checks and ports; the NATS cluster config; the users file; and an
office's NATS permissions on a real nats-server."""

from __future__ import annotations

import asyncio
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import nats
import pytest
import yaml
from nats.aio.client import Client
from pydantic_settings import BaseSettings

from shared.contracts import ROLLUPS
from shared.runtime.messaging import ensure_streams
from tests.support.compose import (
    COMPOSE_FILE,
    DEPLOY,
    LISTENS,
    ONE_SHOTS,
    MissingVariable,
    as_list,
    default_services,
    kind_of,
    load_compose,
    read_env_file,
)
from tests.support.waiting import eventually
from tools.deploy_config import (
    SERVICES,
    office_permissions,
    render_users,
    service_users,
    subject_pattern,
)
from tools.natsserver import MEMORY_LIMIT, NatsServer, nats_server_binary

pytestmark = pytest.mark.deploy

EXAMPLE = DEPLOY / ".env.example"
SECRET = re.compile(r"PASSWORD|SECRET|TOKEN|KEY")
RESTARTS = {"always", "unless-stopped", "on-failure"}


def example_env() -> dict[str, str]:
    return read_env_file(EXAMPLE)


def test_compose_file_follows_the_compose_specification() -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_secret_has_a_usable_default() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    secrets = {
        m.group(1) for m in re.finditer(r"\$\{([A-Z0-9_]+)", text) if SECRET.search(m.group(1))
    }
    assert secrets, "the compose file takes no secret?"
    for name in sorted(secrets):
        uses = re.findall(r"\$\{" + name + r"([^}]*)\}", text)
        assert all(use.startswith(":?") for use in uses), f"{name} must be ${{{name}:?...}}: {uses}"
        assert example_env().get(name) == "", f"{name} must be empty in .env.example"
    with pytest.raises(MissingVariable):  # the example alone does not start
        load_compose(example_env())


def test_new_env_fills_every_secret_once(tmp_path: Path) -> None:
    target = tmp_path / ".env"
    subprocess.run(["sh", str(DEPLOY / "new-env.sh"), str(target)], check=True)
    made = read_env_file(target)
    secrets = {k: v for k, v in made.items() if SECRET.search(k)}
    assert secrets and all(re.fullmatch(r"[0-9a-f]{48}", v) for v in secrets.values())
    assert len(set(secrets.values())) == len(secrets)
    assert {k: v for k, v in made.items() if k not in secrets} == {
        k: v for k, v in example_env().items() if k not in secrets
    }
    assert target.stat().st_mode & 0o077 == 0
    again = subprocess.run(["sh", str(DEPLOY / "new-env.sh"), str(target)], capture_output=True)
    assert again.returncode != 0 and read_env_file(target) == made  # never overwritten
    load_compose(made)  # every ${VAR:?} is satisfied


def settings_classes() -> list[type[BaseSettings]]:
    """Every settings class of the code (services' composition roots and shared)."""
    for service in SERVICES:
        importlib.import_module(f"services.{service}.main")
    found: list[type[BaseSettings]] = []
    stack: list[type[BaseSettings]] = [BaseSettings]
    while stack:
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            if sub.__module__.startswith(("services.", "shared.")):
                found.append(sub)
    return found


def setting_names(cls: type[BaseSettings]) -> set[str]:
    prefix = str(cls.model_config.get("env_prefix", ""))
    return {(prefix + name).upper() for name in cls.model_fields}


def test_every_setting_is_in_the_example_env_file() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    listed = set(re.findall(r"\b(NIANBAO_[A-Z0-9_]+)", text))
    missing = sorted(set().union(*(setting_names(c) for c in settings_classes())) - listed)
    assert not missing, f"add to deploy/.env.example (and compose.yaml): {missing}"
    assert example_env()["NIANBAO_STREAM_REPLICAS"] == "3"


def test_each_service_is_given_only_real_settings() -> None:
    compose = load_compose()
    known = set().union(*(setting_names(c) for c in settings_classes()))
    for name, spec in compose["services"].items():
        env = spec.get("environment") or {}
        unknown = sorted(k for k in env if k.startswith("NIANBAO_") and k not in known)
        assert not unknown, f"{name}: no such setting {unknown}"
    for service in SERVICES:
        env = compose["services"][service]["environment"]
        assert env["NIANBAO_STREAM_REPLICAS"] == "${NIANBAO_STREAM_REPLICAS:-3}"
        assert env["NIANBAO_NATS_USER"] == service
        assert env["NIANBAO_NATS_URL"].count("nats://") == 3
        assert env["NIANBAO_NATS_PASSWORD"].startswith(f"${{NATS_{service.upper()}_PASSWORD:?")


def test_every_service_has_a_health_check_and_restarts() -> None:
    compose = load_compose()
    for name, spec in compose["services"].items():
        if name in ONE_SHOTS:  # runs once and exits; checked below
            continue
        assert spec.get("restart") in RESTARTS, name
        test = as_list(spec["healthcheck"]["test"])
        assert test[0] == "CMD", name
        ports = {int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", " ".join(test))}
        assert ports <= set(LISTENS[kind_of(name)]), (name, ports)
        for mapping in spec.get("ports", []):
            assert int(str(mapping).rsplit(":", 1)[1]) in LISTENS[kind_of(name)], (name, mapping)
    # the health ports are the ones the services are told to listen on
    health = {"validator": 8001, "aggregator": 8002, "publisher": 8003, "intake": 8004}
    health["verifier"] = 8005
    for service, port in health.items():
        assert compose["services"][service]["environment"]["NIANBAO_HEALTH_PORT"] == str(port)
    # and the ones Prometheus scrapes
    scrape = yaml.safe_load((DEPLOY / "prometheus.yml").read_text(encoding="utf-8"))
    scraped = {j["job_name"]: j["dns_sd_configs"][0]["port"] for j in scrape["scrape_configs"]}
    assert scraped == health
    assert compose["services"]["intake"]["environment"]["NIANBAO_INTAKE_PORT"] == "8000"


def test_one_image_for_the_five_services() -> None:
    compose = load_compose()
    builds = {json.dumps(compose["services"][s]["build"], sort_keys=True) for s in SERVICES}
    images = {compose["services"][s]["image"] for s in SERVICES}
    assert len(builds) == len(images) == 1
    (build,) = [compose["services"]["intake"]["build"]]
    assert (COMPOSE_FILE.parent / build["context"] / build["dockerfile"]).resolve() == (
        DEPLOY / "Dockerfile"
    )
    assert "prometheus" not in default_services(compose)
    assert compose["services"]["prometheus"]["profiles"] == ["observability"]
    assert any("prometheus.yml" in v for v in compose["services"]["prometheus"]["volumes"])


def test_pages_are_served_read_only_from_the_publishers_volume() -> None:
    compose = load_compose()
    publisher = compose["services"]["publisher"]
    pages_dir = publisher["environment"]["NIANBAO_PAGES_DIR"]
    (volume,) = [v.split(":")[0] for v in publisher["volumes"] if v.split(":")[1] == pages_dir]
    (served,) = [v for v in compose["services"]["pages"]["volumes"] if v.startswith(volume + ":")]
    _, root, mode = served.split(":")
    assert mode == "ro"
    conf = (DEPLOY / "nginx" / "pages.conf").read_text(encoding="utf-8")
    assert re.search(rf"^\s*root {re.escape(root)};", conf, re.M)
    assert re.search(r"^\s*listen 8080;", conf, re.M)


def test_nats_cluster_config() -> None:
    compose = load_compose()
    nodes = [name for name in compose["services"] if kind_of(name) == "nats"]
    assert len(nodes) == 3
    conf = (DEPLOY / "nats" / "nats.conf").read_text(encoding="utf-8")
    assert re.search(r"^\s*sync_interval:\s*always\s*$", conf, re.M)
    store = re.search(r'store_dir:\s*"([^"]+)"', conf)
    assert store is not None
    # routes authenticate: the cluster block has an authorization, every route URL its password
    cluster = conf[conf.index("cluster {") :]
    assert re.search(r"authorization \{[^}]*password: \$NATS_ROUTE_PASSWORD", cluster)
    nats_env = compose["services"]["nats-1"]["environment"]
    route_variables = re.findall(r"^\s*\$(NATS_ROUTE_\d+)\s*$", cluster, re.M)
    routes = {}
    for variable in route_variables:
        url = re.fullmatch(
            r"nats-route://route:\$\{NATS_ROUTE_PASSWORD:\?[^}]+\}@([\w-]+):6222",
            nats_env[variable],
        )
        assert url is not None, (variable, nats_env[variable])
        routes[variable] = url.group(1)
    assert set(routes.values()) == set(nodes)
    assert nats_env["NATS_ROUTE_PASSWORD"].startswith("${NATS_ROUTE_PASSWORD:?")
    for node in nodes:
        spec = compose["services"][node]
        assert as_list(spec["command"])[-2:] == ["--name", node]
        data = [v for v in spec["volumes"] if not v.startswith(".")]
        assert len(data) == 1 and store.group(1).startswith(data[0].split(":")[1])
    env = read_env_file(DEPLOY / ".env.example") | {
        k: "x" for k in example_env() if SECRET.search(k)
    }
    resolved = load_compose(env)["services"]["nats-1"]["environment"]
    # every node gets the memory limit a locally started server gets
    for node in nodes:
        assert load_compose(env)["services"][node]["environment"]["GOMEMLIMIT"] == MEMORY_LIMIT
    checked = subprocess.run(
        [nats_server_binary(), "-c", str(DEPLOY / "nats" / "nats.conf"), "-t"],
        env={k: str(v) for k, v in resolved.items()},
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_streams_are_created_by_the_admin_before_any_service_starts() -> None:
    compose = load_compose()
    assert ONE_SHOTS == ("streams",)
    streams = compose["services"]["streams"]
    assert as_list(streams["command"]) == ["nianbao", "deploy", "streams"]
    assert streams["restart"] == "no" and "healthcheck" not in streams
    assert streams["environment"]["NIANBAO_NATS_USER"] == "admin"
    assert streams["environment"]["NIANBAO_NATS_PASSWORD"].startswith("${NATS_ADMIN_PASSWORD:?")
    assert streams["image"] == compose["services"]["intake"]["image"]
    for service in SERVICES:
        spec = compose["services"][service]
        assert spec["depends_on"]["streams"] == {"condition": "service_completed_successfully"}
        assert spec["environment"]["NIANBAO_NATS_USER"] != "admin"


def test_only_the_intake_writes_the_registry() -> None:
    """The registry an operator uploads lands in ``<data dir>/registry.json``: the intake's
    mount of that volume is read-write, every other service's read-only (so is the config)."""
    compose = load_compose()
    for service in SERVICES:
        spec = compose["services"][service]
        data_dir = spec["environment"]["NIANBAO_DATA_DIR"]
        registry = f"{data_dir}/registry.json"
        covering = [
            v.split(":")
            for v in spec["volumes"]
            if registry.startswith(v.split(":")[1].rstrip("/") + "/")
        ]
        assert covering, (service, spec["volumes"])
        modes = {parts[2] if len(parts) > 2 else "rw" for parts in covering}
        assert modes == ({"rw"} if service == "intake" else {"ro"}), (service, covering)
        for volume in spec["volumes"]:  # no writable mount of the same volume elsewhere
            source, _target, *mode = volume.split(":")
            if service != "intake" and source == covering[0][0]:
                assert mode == ["ro"], (service, volume)
        config = [v for v in spec["volumes"] if v.split(":")[1] == "/etc/nianbao"]
        assert config and all(v.endswith(":ro") for v in config), (service, config)
    default = compose["services"]["intake"]["environment"]["NIANBAO_REGISTRY_FILE"]
    assert default == "${NIANBAO_REGISTRY_FILE:-}"  # unset: <data dir>/registry.json


def test_users_file_matches_the_code() -> None:
    shipped = (DEPLOY / "nats" / "users.conf").read_text(encoding="utf-8")
    assert shipped == render_users(service_users()), (
        "deploy/nats/users.conf is stale: run `nianbao deploy nats-users`"
    )
    compose = load_compose()
    nats_env = compose["services"]["nats-1"]["environment"]
    for variable in re.findall(r"password: \$(\w+)", shipped):
        assert nats_env[variable] == f"${{{variable}:?set {variable} in deploy/.env}}"


# ------------------------------------------------------------------ office permissions


async def connect_office(
    server: NatsServer, passwords: dict[str, str], node: str, errors: list[str]
) -> Client:
    user = f"office-{node}"

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    return await nats.connect(
        server.url,
        user=user,
        password=passwords[user],
        inbox_prefix=f"_INBOX_{user}",
        error_cb=on_error,
        allow_reconnect=False,
    )


async def test_an_office_reads_its_own_subtree_only(
    secured_nats: tuple[NatsServer, dict[str, str]], admin: Client
) -> None:
    server, passwords = secured_nats
    js = admin.jetstream()
    await ensure_streams(js, [ROLLUPS], 1)
    subjects = {
        "own": "nianbao.rollup.2026.admin.CN.110000",
        "below": "nianbao.rollup.2026.admin.CN.110000.110101",
        "parent": "nianbao.rollup.2026.admin.CN",
        "other tree": "nianbao.rollup.2026.dept.bm29",
    }
    for subject in subjects.values():
        await js.publish(subject, subject.encode(), stream=ROLLUPS.name)

    errors: list[str] = []
    office = await connect_office(server, passwords, "110000", errors)
    try:
        got: list[str] = []

        async def collect(msg: Any) -> None:
            got.append(msg.subject)

        await office.subscribe("nianbao.rollup.*.admin.CN.110000", cb=collect)
        await office.subscribe("nianbao.rollup.*.admin.CN.110000.>", cb=collect)
        for forbidden in ("nianbao.rollup.*.admin.CN", "nianbao.>", "_INBOX.>", "nianbao.*.>"):
            await office.subscribe(forbidden, cb=collect)
        await office.flush()
        for subject in subjects.values():
            await admin.publish(subject, subject.encode())
        await admin.flush()

        async def both_received() -> bool:
            return len(got) >= 2

        await eventually(both_received, within=10)
        await asyncio.sleep(0.3)  # the forbidden subscriptions would have delivered by now
        assert sorted(got) == sorted([subjects["own"], subjects["below"]])
        assert sum("permissions violation" in e.lower() for e in errors) >= 4, errors

        # current roll-ups by direct get: its own nodes only
        office_js = office.jetstream(timeout=2)
        own = await office_js.get_last_msg(ROLLUPS.name, subjects["below"], direct=True)
        assert own.data == subjects["below"].encode()
        for forbidden in ("parent", "other tree"):
            with pytest.raises(Exception):  # noqa: B017 - refused: no reply comes back
                await office_js.get_last_msg(ROLLUPS.name, subjects[forbidden], direct=True)
    finally:
        await office.close()

    async def quiet(_exc: Exception) -> None:
        pass

    with pytest.raises(Exception):  # noqa: B017 - a wrong password is refused
        await nats.connect(
            server.url,
            user="office-110000",
            password="wrong",
            allow_reconnect=False,
            max_reconnect_attempts=0,
            error_cb=quiet,
        )


def test_permissions_follow_the_subjects_in_the_code() -> None:
    assert subject_pattern("nianbao.rollup.{year}.{tree}.{path}") == "nianbao.rollup.*.*.>"
    assert subject_pattern("nianbao.submitted.{form}.{code}") == "nianbao.submitted.*.*"
    assert subject_pattern("nianbao.dlq.intake") == "nianbao.dlq.intake"
    office = office_permissions("office-510900", "admin", ["CN", "510000", "510900"])
    assert "nianbao.rollup.*.admin.CN.510000.510900" in office.subscribe
    assert "nianbao.rollup.*.admin.CN.510000.510900.>" in office.subscribe
    assert "_INBOX_office-510900.>" in office.subscribe
    assert not any(s.startswith("_INBOX.") or s.endswith("CN.510000.>") for s in office.subscribe)
    assert set(office.publish) == {
        "$JS.API.DIRECT.GET.NIANBAO_ROLLUPS.nianbao.rollup.*.admin.CN.510000.510900",
        "$JS.API.DIRECT.GET.NIANBAO_ROLLUPS.nianbao.rollup.*.admin.CN.510000.510900.>",
    }


async def test_nianbao_subscribe_works_with_an_offices_credentials(
    secured_nats: tuple[NatsServer, dict[str, str]], admin: Client
) -> None:
    """`nianbao subscribe` as an office: current roll-ups by direct get, then live events,
    its own subtree only, with the credentials `nianbao deploy nats-users` wrote."""
    from shared.runtime.registry_files import load_registry
    from tools.subscribe import Subtree, follow

    server, passwords = secured_nats
    registry = load_registry(Path("tests/data/registry-mini.json"))
    js = admin.jetstream()
    await ensure_streams(js, [ROLLUPS], 1)
    own = Subtree.of(registry, "110000", 2026)
    body = {
        "node": "110000",
        "rollup": {
            "name": "北京市",
            "tally": dict.fromkeys(
                ("expected", "reported", "on_time", "late", "missing", "returned"), 1
            ),
            "completeness_pct": 100.0,
        },
    }
    await js.publish(own.subjects("rollup")[0], json.dumps(body).encode(), stream=ROLLUPS.name)
    await js.publish("nianbao.rollup.2026.admin.CN", json.dumps(body).encode(), stream=ROLLUPS.name)
    lines: list[dict[str, Any]] = []
    user = "office-110000"
    options = {"user": user, "password": passwords[user], "inbox_prefix": f"_INBOX_{user}"}

    async def publish_live() -> None:
        await asyncio.sleep(0.5)  # let the subscriber subscribe before the live events
        review = {
            "action": "return",
            "code": "1100000088",
            "office": "110000",
            "reason": "请更正",
            "receipt_id": "r1",
        }
        await admin.publish(
            "nianbao.review.2026.admin.CN.110000.1100000088", json.dumps(review).encode()
        )
        await admin.publish("nianbao.review.2026.dept.bm29.bm29000002", json.dumps(review).encode())
        await admin.flush()

    writer = asyncio.create_task(publish_live())
    seen = await follow(server.url, own, registry, lines.append, seconds=3, connect_options=options)
    await writer
    assert seen == len(lines) == 2
    assert [line["kind"] for line in lines] == ["rollup", "review"]
    assert lines[0]["node"] == "110000" and lines[1]["code"] == "1100000088"
