"""A fleet of fake government websites on one local HTTP server, dispatching on the Host header.

Used by the verifier's tests and its benchmark (`nianbao bench-verify`). Each host serves the
pages a spec gives it (status, body, charset, redirects, a hang, a huge body, a delay); hosts
``s<code>.bench.test`` not in the spec serve a compliant homepage and report page generated from
the code. The server counts requests per host and the most ever in flight at once on one host,
readable at ``http://<any>/__fleet/stats`` with ``Host: fleet.control``.

Run: ``python -m bench.fleet SPEC.json PORT [--delay 0.2] [--certfile KEY_AND_CHAIN.pem]`` (the
last: HTTPS).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import uvicorn

CONTROL_HOST = "fleet.control"
BENCH_HOST = re.compile(r"^s([A-Za-z0-9]+)\.bench\.test$")
CHUNK = 64 * 1024


def bench_hash(code: str) -> str:
    """The content hash the benchmark's accepted report of ``code`` carries."""
    return hashlib.sha256(f"bench:{code}".encode()).hexdigest()


def bench_pages(code: str, year: int) -> dict[str, dict[str, Any]]:
    """A compliant site: the homepage links its report; the report page carries the hash."""
    return {
        "/": {
            "body": f'<html><body><a href="/nb/{year}.html">{year}年政府网站工作年度报表</a>'
            f"<footer>网站标识码{code}</footer></body></html>"
        },
        f"/nb/{year}.html": {
            "body": f"<html><body><p>内容哈希 {bench_hash(code)}</p></body></html>"
        },
    }


class Fleet:
    """The ASGI app of the fleet."""

    def __init__(self, spec: dict[str, dict[str, dict[str, Any]]], delay: float = 0.0) -> None:
        self.spec = spec
        self.delay = delay
        self.requests: Counter[str] = Counter()
        self.in_flight: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()
        self.user_agents: set[str] = set()
        self.bench_year = 2026

    def page(self, host: str, path: str) -> dict[str, Any] | None:
        pages = self.spec.get(host)
        if pages is None:
            match = BENCH_HOST.match(host)
            if match is None:
                return None
            pages = bench_pages(match.group(1), self.bench_year)
        return pages.get(path)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "").rsplit(":", 1)[0].lower()
        if host == CONTROL_HOST:
            await self.control(scope, send)
            return
        self.requests[host] += 1
        self.user_agents.add(headers.get("user-agent", ""))
        self.in_flight[host] += 1
        self.max_in_flight[host] = max(self.max_in_flight[host], self.in_flight[host])
        try:
            await self.serve(host, scope["path"], send)
        finally:
            self.in_flight[host] -= 1

    async def control(self, scope: Any, send: Any) -> None:
        if scope["path"] == "/__fleet/reset":
            self.requests.clear()
            self.max_in_flight.clear()
        body = json.dumps(
            {
                "requests": dict(self.requests),
                "max_in_flight": dict(self.max_in_flight),
                "user_agents": sorted(self.user_agents),
            }
        ).encode()
        await _respond(send, 200, {"content-type": "application/json"}, body)

    async def serve(self, host: str, path: str, send: Any) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        page = self.page(host, path)
        if page is None:
            await _respond(send, 404, {"content-type": "text/html"}, b"<h1>404</h1>")
            return
        if page.get("delay"):
            await asyncio.sleep(float(page["delay"]))
        if page.get("hang"):
            await asyncio.sleep(3600)
        status = int(page.get("status", 200))
        charset = page.get("charset", "utf-8")
        headers = {"content-type": page.get("content_type", f"text/html; charset={charset}")}
        if "location" in page:
            headers["location"] = page["location"]
        if "size" in page:  # a huge body, streamed without holding it
            await send(
                {"type": "http.response.start", "status": status, "headers": _pairs(headers)}
            )
            left = int(page["size"])
            block = b"<p>" + b"x" * (CHUNK - 7) + b"</p>"
            while left > 0:
                n = min(left, len(block))
                await send({"type": "http.response.body", "body": block[:n], "more_body": True})
                left -= n
            await send({"type": "http.response.body", "body": b""})
            return
        body = str(page.get("body", "")).encode(charset)
        await _respond(send, status, headers, body)


def _pairs(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode(), v.encode("latin-1")) for k, v in headers.items()]


async def _respond(send: Any, status: int, headers: dict[str, str], body: bytes) -> None:
    headers = {**headers, "content-length": str(len(body))}
    await send({"type": "http.response.start", "status": status, "headers": _pairs(headers)})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("spec", type=Path)
    parser.add_argument("port", type=int)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--year", type=int, default=2026)
    parser.add_argument("--certfile", help="serve HTTPS with this key and certificate chain (PEM)")
    args = parser.parse_args()
    spec = json.loads(args.spec.read_text(encoding="utf-8"))
    fleet = Fleet(spec, args.delay)
    fleet.bench_year = args.year
    config = uvicorn.Config(
        fleet,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        backlog=4096,
        limit_concurrency=None,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=1,  # hanging requests are not waited for
        ssl_certfile=args.certfile,
    )
    asyncio.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
