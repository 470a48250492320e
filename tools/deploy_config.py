"""`nianbao deploy`: NATS users and permissions for the production cluster, and operator chores.

Each service gets one NATS user allowed only what its code declares: publishing its subjects,
reading the configuration of the streams it uses (never creating, updating, purging or deleting
one: `nianbao deploy streams`, run as the operator, does that), creating, reading and
acknowledging its own durable consumers, reading the last message of the subjects it follows
(registry imports) by direct get, and receiving replies and pulled messages in its own inbox
``_INBOX_<service>.>``. Each supervisory office gets a user allowed only its subtree:
subscribing to the roll-up, review and reminder subjects of its node and below, and reading its
nodes' current roll-ups by JetStream direct get, with replies in its own inbox
``_INBOX_<user>.>`` (so no user reads another's replies). The operator user (``admin``)
may do everything.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shared.access import OFFICE_LEVELS  # offices get a NATS user as they get a token
from shared.contracts import ROLLUPS, STREAMS, dead_letter_subject, subtree_subjects
from shared.registry import Registry
from shared.runtime.settings import CommonSettings
from shared.topology import SERVICES, inbox_prefix
from tools.tokens_cli import write_private

if TYPE_CHECKING:
    from shared.runtime.messaging import StreamChange

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
    streams: tuple[str, ...]  # whose configuration it checks at start
    inbox: str
    #: (stream, subject) whose last message it reads by direct get, woken by a subscription
    follows: tuple[tuple[str, str], ...] = ()
    #: core NATS subjects it answers requests on (it subscribes to them, replies to inboxes)
    answers: tuple[str, ...] = ()


def inbox(user: str) -> str:
    """The inbox prefix a user's client must use (``inbox_prefix`` in nats-py)."""
    return inbox_prefix(user)


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
    follows = {(f.stream.name, f.subject) for f in topology.follows}
    # key-value buckets: puts are publishes to the bucket's subjects, gets are direct gets
    publishes.update(s for bucket in topology.buckets_written for s in bucket.subjects)
    publishes.update(f"$JS.API.DIRECT.GET.{bucket.name}.>" for bucket in topology.buckets_read)
    # request/reply: replies go to the inboxes of the services that ask what it answers
    publishes.update(
        f"{other.inbox_prefix}.>"
        for other in SERVICES.values()
        if set(other.requests) & set(topology.answers)
    )
    return ServiceInterface(
        tuple(sorted(consumers)),
        tuple(sorted(publishes)),
        tuple(s.name for s in topology.streams),
        topology.inbox_prefix,
        tuple(sorted(follows)),
        tuple(sorted(subject_pattern(f.template) for f in topology.answers)),
    )


def service_permissions(interface: ServiceInterface) -> Permissions:
    """Its subjects, reading its streams' configuration, its own durables, replies in its own
    inbox. No stream create, update, purge or delete, no message get or delete."""
    publish = [*interface.publishes, "$JS.API.INFO"]
    publish += [f"$JS.API.STREAM.INFO.{stream}" for stream in interface.streams]
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
    publish += [f"$JS.API.DIRECT.GET.{stream}.{subject}" for stream, subject in interface.follows]
    followed = sorted({subject for _, subject in interface.follows})
    return Permissions(
        publish=tuple(publish),
        subscribe=(f"{interface.inbox}.>", *interface.answers, *followed),
    )


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
        write_private(passwords, json.dumps(known, ensure_ascii=False, indent=1) + "\n")
        typer.echo(f"office passwords in {passwords} (hand each office its own)")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_users(users), encoding="utf-8")
    typer.echo(f"wrote {out}: {len(users)} users; restart or reload the nats servers")


async def apply_streams(
    settings: CommonSettings, replicas: int | None = None
) -> list[StreamChange]:
    """The admin step: every stream of the code created, or updated to the code (TopologyDrift
    when the server refuses), as the user of ``settings`` (the operator's)."""
    from shared.runtime.messaging import ensure_streams
    from shared.runtime.service import make_broker

    broker = make_broker(settings, ADMIN)
    await broker.connect()
    try:
        js = broker.connection.jetstream()
        return await ensure_streams(js, STREAMS, replicas or settings.stream_replicas)
    finally:
        await broker.stop()


@app.command("streams")
def streams(
    replicas: Annotated[
        int | None, typer.Option(help="replicas of each stream (default NIANBAO_STREAM_REPLICAS)")
    ] = None,
) -> None:
    """Create the streams, or update them to the code: the one step that may (run it as the
    admin user at deploy time, before the services start; they refuse a stream that differs).
    Uses NIANBAO_NATS_URL / _USER / _PASSWORD."""
    from shared.runtime.messaging import TopologyDrift, describe

    try:
        changes = asyncio.run(apply_streams(CommonSettings(), replicas))
    except TopologyDrift as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from exc
    for change in changes:
        detail = f" ({describe(change.drift)})" if change.drift else ""
        typer.echo(f"{change.name}: {change.action}{detail}")


async def _drop_consumers(services: Sequence[str]) -> list[tuple[str, str, bool]]:
    from nats.js.errors import NotFoundError

    from shared.runtime.service import make_broker

    broker = make_broker(CommonSettings(), ADMIN)
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


@app.command("tokens")
def tokens(
    out: Annotated[Path | None, typer.Option(help="write {code: token} here (mode 600)")] = None,
    expires: Annotated[
        str | None,
        typer.Option(help="the tokens stop working then: 2027-03-01, an ISO time, 90d"),
    ] = None,
) -> None:
    """Issue a bearer token to every site and supervisory office of the registry, and one to the
    operator, into the intake's database (stored hashed); print them as JSON (or --out; a file
    stdout is redirected to is made mode 600). Earlier tokens stay valid until revoked
    (`nianbao tokens revoke|rotate`). Uses the intake's settings (NIANBAO_INTAKE_DATABASE_URL,
    _REGISTRY_FILE)."""
    from tools.tokens_cli import issue_all

    issue_all(expires, out)
