"""`nianbao deploy`: NATS users and permissions for the production cluster, and operator chores.

Each service gets one NATS user allowed only what its code declares: publishing its subjects,
reconciling the streams, creating, reading and acknowledging its own durable consumers, and
receiving replies and pulled messages in ``_INBOX.>`` (FastStream's pull subscriptions always
use that prefix). Each supervisory office gets a user allowed only its subtree: subscribing to
the roll-up, review and reminder subjects of its node and below, and reading its nodes' current
roll-ups by JetStream direct get, with replies in its own inbox ``_INBOX_<user>.>`` (so an office
reads no one else's replies, and no service reads an office's). The operator user (``admin``)
may do everything.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from shared.access import OFFICE_LEVELS  # offices get a NATS user as they get a token
from shared.contracts import ROLLUPS, STREAMS, dead_letter_subject, subtree_subjects
from shared.registry import Registry
from shared.topology import SERVICES

#: event kinds an office follows for its subtree
OFFICE_SUBJECT_KINDS = ("rollup", "review", "reminder")
ADMIN = "admin"
USERS_FILE = Path("deploy/nats/users.conf")
PASSWORDS_FILE = Path("deploy/secrets/nats-office-passwords.json")

app = typer.Typer(
    help="Production deployment: NATS users, tokens, consumers.", no_args_is_help=True
)


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


@dataclass(frozen=True)
class NatsUser:
    """A user of the cluster's config; ``password`` is a ``$VARIABLE`` or a bcrypt hash."""

    name: str
    password: str
    permissions: Permissions | None
    comment: str


@dataclass(frozen=True)
class ServiceInterface:
    """What a service does on NATS, read off its own broker: durables it reads, subjects it
    publishes."""

    consumers: tuple[tuple[str, str], ...]  # (stream, durable)
    publishes: tuple[str, ...]
    #: core NATS subjects it answers requests on (it subscribes to them, replies to inboxes)
    answers: tuple[str, ...] = ()


def inbox(user: str) -> str:
    """The inbox prefix an office's client must use (``inbox_prefix`` in nats-py)."""
    return f"_INBOX_{user}"


def password_variable(user: str) -> str:
    """The environment variable the nats-server reads a service's password from."""
    return f"NATS_{user.upper()}_PASSWORD"


def subject_pattern(template: str) -> str:
    """``nianbao.rollup.{year}.{tree}.{path}`` -> ``nianbao.rollup.*.*.>``: a placeholder is one
    token, but a last ``{path}`` spans several (a node's path from its root)."""
    tokens = template.split(".")
    for i, token in enumerate(tokens):
        if token.startswith("{") and token.endswith("}"):
            tokens[i] = ">" if token == "{path}" and i == len(tokens) - 1 else "*"
    return ".".join(tokens)


def service_interface(service: str) -> ServiceInterface:
    """What the service reads and writes on NATS, from the topology (shared.topology)."""
    topology = SERVICES[service]
    consumers = {(c.stream.name, c.durable) for c in topology.consumers}
    publishes = {subject_pattern(p.family.template) for p in topology.publications}
    publishes |= {subject_pattern(f.template) for f in topology.requests}
    publishes.add(dead_letter_subject(service))
    answers = tuple(sorted(subject_pattern(f.template) for f in topology.answers))
    return ServiceInterface(tuple(sorted(consumers)), tuple(sorted(publishes)), answers)


def service_permissions(interface: ServiceInterface) -> Permissions:
    """Its subjects, the streams' reconciliation, its own durables, replies in its own inbox."""
    publish = [*interface.publishes, "$JS.API.INFO"]
    for stream in sorted(s.name for s in STREAMS):
        publish += [f"$JS.API.STREAM.{verb}.{stream}" for verb in ("INFO", "CREATE", "UPDATE")]
    for stream, durable in interface.consumers:
        api = "$JS.API.CONSUMER"
        publish += [
            f"{api}.INFO.{stream}.{durable}",
            f"{api}.CREATE.{stream}.{durable}",
            f"{api}.CREATE.{stream}.{durable}.>",
            f"{api}.DURABLE.CREATE.{stream}.{durable}",
            f"{api}.MSG.NEXT.{stream}.{durable}",
            f"$JS.ACK.{stream}.{durable}.>",
        ]
    if interface.answers:
        publish.append("_INBOX.>")  # replies to the requesters' inboxes
    return Permissions(publish=tuple(publish), subscribe=("_INBOX.>", *interface.answers))


def office_user_name(node: str) -> str:
    return f"office-{node}"


def office_permissions(user: str, tree: str, path: Sequence[str]) -> Permissions:
    """Only the office's subtree: live events, and its nodes' current roll-ups by direct get."""
    follow = [
        s for kind in OFFICE_SUBJECT_KINDS for s in subtree_subjects(kind, "*", tree, [*path])
    ]
    current = [
        f"$JS.API.DIRECT.GET.{ROLLUPS.name}.{s}"
        for s in subtree_subjects("rollup", "*", tree, [*path])
    ]
    return Permissions(publish=tuple(current), subscribe=(*follow, f"{inbox(user)}.>"))


def offices(registry: Registry) -> list[tuple[str, str, list[str], str]]:
    """(user, tree, path, label) of every supervisory office of the registry."""
    out = []
    for code, node in sorted(registry.nodes.items()):
        if node.level in OFFICE_LEVELS:
            out.append((office_user_name(code), node.tree.value, registry.path(code), node.name))
    return out


def service_users(interfaces: dict[str, ServiceInterface] | None = None) -> list[NatsUser]:
    interfaces = interfaces or {s: service_interface(s) for s in SERVICES}
    users = [NatsUser(ADMIN, f"${password_variable(ADMIN)}", None, "the operator: everything")]
    for service in SERVICES:
        users.append(
            NatsUser(
                service,
                f"${password_variable(service)}",
                service_permissions(interfaces[service]),
                f"the {service} service",
            )
        )
    return users


def office_users(
    registry: Registry, passwords: dict[str, str], bcrypt_cost: int = 11
) -> list[NatsUser]:
    """One user per office; ``passwords`` (user -> plain) is filled with new ones as needed."""
    import bcrypt

    users = []
    for user, tree, path, label in offices(registry):
        plain = passwords.setdefault(user, secrets.token_urlsafe(24))
        hashed = bcrypt.hashpw(plain.encode(), bcrypt.gensalt(bcrypt_cost)).decode()
        users.append(NatsUser(user, hashed, office_permissions(user, tree, path), label))
    return users


def _quoted(items: Iterable[str]) -> str:
    return ", ".join(json.dumps(i, ensure_ascii=False) for i in items)


def render_users(users: Sequence[NatsUser]) -> str:
    """The body of the cluster's ``authorization {}`` block, in nats-server config syntax."""
    lines = [
        "# Generated by `nianbao deploy nats-users` from the services' code"
        " (and the registry's offices): do not edit.",
        "# Service passwords come from the environment ($NATS_<USER>_PASSWORD);"
        " office passwords are bcrypt hashes.",
        "users = [",
    ]
    for user in users:
        password = (
            user.password if user.password.startswith("$NATS_") else json.dumps(user.password)
        )
        lines.append(f"  # {user.name}: {user.comment}")
        if user.permissions is None:
            lines.append(f"  {{user: {json.dumps(user.name)}, password: {password}}}")
            continue
        lines += [
            f"  {{user: {json.dumps(user.name)}, password: {password}, permissions: {{",
            "    publish: {allow: [",
            *(f"      {_quoted([s])}" for s in user.permissions.publish),
            "    ]}",
            "    subscribe: {allow: [",
            *(f"      {_quoted([s])}" for s in user.permissions.subscribe),
            "    ]}",
            "  }}",
        ]
    lines.append("]")
    return "\n".join(lines) + "\n"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


@app.command("nats-users")
def nats_users(
    registry: Annotated[
        Path | None,
        typer.Option(help="registry JSON/CSV: add one user per supervisory office"),
    ] = None,
    out: Annotated[Path, typer.Option(help="the users include file to write")] = USERS_FILE,
    passwords: Annotated[
        Path,
        typer.Option(help="office passwords (JSON, kept: existing ones are reused)"),
    ] = PASSWORDS_FILE,
    bcrypt_cost: Annotated[int, typer.Option(min=4, max=16)] = 11,
) -> None:
    """Write the cluster's users: the operator, the four services, and the offices."""
    users = service_users()
    if registry is not None:
        from shared.runtime.registry_files import load_registry

        known: dict[str, str] = {}
        if passwords.exists():
            known = json.loads(passwords.read_text(encoding="utf-8"))
        users += office_users(load_registry(registry), known, bcrypt_cost)
        _write_private(passwords, json.dumps(known, ensure_ascii=False, indent=1) + "\n")
        typer.echo(f"office passwords in {passwords} (hand each office its own)")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_users(users), encoding="utf-8")
    typer.echo(f"wrote {out}: {len(users)} users; restart or reload the nats servers")


async def _drop_consumers(services: Sequence[str]) -> list[tuple[str, str, bool]]:
    from nats.js.errors import NotFoundError

    from shared.runtime.service import make_broker
    from shared.runtime.settings import CommonSettings

    broker = make_broker(CommonSettings(), "deploy")
    await broker.connect()
    try:
        js = broker.connection.jetstream()
        dropped = []
        for service in services:
            for stream, durable in service_interface(service).consumers:
                try:
                    await js.delete_consumer(stream, durable)
                except NotFoundError:
                    dropped.append((stream, durable, False))
                else:
                    dropped.append((stream, durable, True))
        return dropped
    finally:
        await broker.stop()


@app.command("drop-consumers")
def drop_consumers(
    services: Annotated[list[str], typer.Argument(help="services whose durables to delete")],
) -> None:
    """Delete the services' durable consumers (stop those services first): restarted, they
    read their streams again from the start. Uses NIANBAO_NATS_URL / _USER / _PASSWORD."""
    unknown = sorted(set(services) - set(SERVICES))
    if unknown:
        raise typer.BadParameter(f"unknown services: {', '.join(unknown)}")
    for stream, durable, existed in asyncio.run(_drop_consumers(services)):
        typer.echo(f"{stream}/{durable}: {'deleted' if existed else 'absent'}")


async def _issue_tokens() -> dict[str, str]:
    from services.intake.main import IntakeSettings, issue_tokens

    return await issue_tokens(IntakeSettings())


@app.command("tokens")
def tokens(
    out: Annotated[Path | None, typer.Option(help="write {code: token} here (mode 600)")] = None,
) -> None:
    """Issue a bearer token to every site and supervisory office of the registry, and one to the
    operator, into the intake's database (stored hashed); print them as JSON (or --out). Earlier
    tokens stay valid. Uses the intake's settings (NIANBAO_INTAKE_DATABASE_URL, _REGISTRY_FILE)."""
    issued = asyncio.run(_issue_tokens())
    text = json.dumps(issued, ensure_ascii=False, indent=1) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        _write_private(out, text)
        typer.echo(f"wrote {len(issued)} tokens to {out}", err=True)
