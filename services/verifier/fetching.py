"""Fetching government pages safely and politely: allowed hosts, no private addresses, one
request at a time per host with a pause, timeouts, a size cap, bounded redirects."""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolve = Callable[[str, int], Awaitable[list[str]]]
REDIRECTS = (301, 302, 303, 307, 308)


@dataclass
class Fetched:
    """One page fetch as evidence: what was asked, where it ended, what came back."""

    url: str
    final_url: str
    status: int | None
    fetched_at: datetime
    size: int = 0
    sha256: str | None = None
    charset: str | None = None
    content_type: str = ""
    #: None when a response came; else why not (timeout, refused_address, redirect_loop, ...)
    error: str | None = None
    truncated: bool = False
    redirects: list[str] = field(default_factory=list)
    body: bytes = b""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class FetchPolicy:
    connect_timeout: float = 5.0
    total_timeout: float = 20.0
    max_bytes: int = 2 * 1024 * 1024
    max_redirects: int = 5
    host_pause: float = 1.0
    user_agent: str = "nianbao-verifier/1 (+publication check of annual reports)"
    verify: str | bool = True
    #: networks the operator allows although private/loopback (intranets, tests)
    allowed_networks: tuple[IpNetwork, ...] = ()


def forbidden_address(ip: IpAddress, allowed: Sequence[IpNetwork]) -> bool:
    """Private, loopback, link-local, multicast, reserved or unspecified, and not allowed."""
    if any(ip in net for net in allowed if net.version == ip.version):
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return forbidden_address(ip.ipv4_mapped, allowed)
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


async def system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return sorted({str(info[4][0]) for info in infos})


def fixed_resolver(table: dict[str, str], fallback: Resolve | None = None) -> Resolve:
    """A resolver from a table: ``{"host": ip, "*.suffix": ip, "*": ip}`` (tests, intranets)."""

    async def resolve(host: str, port: int) -> list[str]:
        if host in table:
            return [table[host]]
        for pattern, ip in table.items():
            if pattern == "*" or (pattern.startswith("*.") and host.endswith(pattern[1:])):
                return [ip]
        if fallback is None:
            raise OSError(f"no address for {host}")
        return await fallback(host, port)

    return resolve


class HostGate:
    """One request at a time per host, and a pause between two requests to the same host."""

    def __init__(self, pause: float) -> None:
        self.pause = pause
        self._locks: dict[str, asyncio.Lock] = {}
        self._last: dict[str, float] = {}

    def lock(self, host: str) -> asyncio.Lock:
        return self._locks.setdefault(host, asyncio.Lock())

    async def wait_turn(self, host: str) -> None:
        """Call holding the host's lock: sleeps until the pause since the last request ended."""
        last = self._last.get(host)
        if last is not None:
            delay = last + self.pause - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    def done(self, host: str) -> None:
        self._last[host] = time.monotonic()


class Fetcher:
    """GET pages of allowed hosts only, each address checked after resolution and on every
    redirect; per-host concurrency 1; the body read up to the cap."""

    def __init__(self, policy: FetchPolicy, resolve: Resolve = system_resolve) -> None:
        self.policy = policy
        self.resolve = resolve
        self.gate = HostGate(policy.host_pause)
        # a CA bundle file: a context trusting only it (httpx deprecates a path for ``verify``)
        verify = (
            ssl.create_default_context(cafile=policy.verify)
            if isinstance(policy.verify, str)
            else policy.verify
        )
        self.client = httpx.AsyncClient(
            verify=verify,
            follow_redirects=False,
            timeout=httpx.Timeout(policy.total_timeout, connect=policy.connect_timeout),
            headers={"User-Agent": policy.user_agent, "Accept": "text/html,*/*;q=0.5"},
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200),
            trust_env=False,
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def get(self, url: str, allowed: Callable[[str], bool]) -> Fetched:
        """The page at ``url``, following at most max_redirects redirects within allowed hosts."""
        started = time.monotonic()
        record = Fetched(url=url, final_url=url, status=None, fetched_at=datetime.now(UTC))
        seen = {url}
        current = url
        try:
            async with asyncio.timeout(self.policy.total_timeout):
                for _hop in range(self.policy.max_redirects + 1):
                    location = await self._one(current, allowed, record)
                    if location is None:
                        return record
                    nxt = urljoin(current, location)
                    record.redirects.append(nxt)
                    if nxt in seen:
                        record.error = "redirect_loop"
                        return record
                    seen.add(nxt)
                    current = nxt
                    record.final_url = nxt
                record.error = "too_many_redirects"
        except TimeoutError:
            record.error = "timeout"
        finally:
            record.seconds = time.monotonic() - started
        return record

    async def _one(self, url: str, allowed: Callable[[str], bool], record: Fetched) -> str | None:
        """One request; the redirect's Location, or None when the record is final."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            record.error = "refused_scheme"
            return None
        if not allowed(host):
            record.error = "refused_host"
            return None
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = await self.resolve(host, port)
        except OSError:
            record.error = "dns"
            return None
        ips = [ipaddress.ip_address(a.split("%", 1)[0]) for a in addresses]
        if not ips or any(forbidden_address(ip, self.policy.allowed_networks) for ip in ips):
            record.error = "refused_address"
            return None
        ip = ips[0]
        netloc = f"[{ip}]" if ip.version == 6 else str(ip)
        target = urlunsplit((parts.scheme, f"{netloc}:{port}", parts.path or "/", parts.query, ""))
        headers = {"Host": parts.netloc.rsplit("@", 1)[-1]}
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        async with self.gate.lock(host):
            await self.gate.wait_turn(host)
            try:
                return await self._read(target, headers, extensions, record)
            finally:
                self.gate.done(host)

    async def _read(
        self, target: str, headers: dict[str, str], extensions: dict[str, str], record: Fetched
    ) -> str | None:
        request = self.client.build_request("GET", target, headers=headers, extensions=extensions)
        try:
            response = await self.client.send(request, stream=True)
        except httpx.TimeoutException:
            record.error = "timeout"
            return None
        except httpx.HTTPError as exc:
            record.error = "tls" if "SSL" in repr(exc) or "certificate" in repr(exc) else "connect"
            return None
        try:
            record.status = response.status_code
            if response.status_code in REDIRECTS and "location" in response.headers:
                return response.headers["location"]
            record.content_type = response.headers.get("content-type", "")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > self.policy.max_bytes:
                    del body[self.policy.max_bytes :]
                    record.truncated = True
                    break
            record.body = bytes(body)
            record.size = len(body)
            record.sha256 = hashlib.sha256(body).hexdigest()
            return None
        except httpx.TimeoutException:
            record.error = "timeout"
            return None
        except httpx.HTTPError:
            record.error = "connect"
            return None
        finally:
            await response.aclose()
