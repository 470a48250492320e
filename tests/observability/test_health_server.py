"""The health server in memory: liveness at once, readiness only when connected and started."""

from __future__ import annotations

import asyncio

import httpx
from faststream.nats import NatsBroker

from services.validator.main import CONSUMER
from shared.runtime.metrics import Health, serve_health


async def _get(port: int, path: str, method: str = "GET") -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        return await client.request(method, path)


async def test_a_service_that_is_not_connected_is_alive_but_not_ready() -> None:
    health = Health("validator", NatsBroker("nats://127.0.0.1:1"), [CONSUMER], poll_seconds=1)
    server = await serve_health(health, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        assert (await _get(port, "/healthz")).json() == {"status": "ok"}
        ready = await _get(port, "/readyz")
        assert ready.status_code == 503
        assert ready.json()["broker_connected"] is False
        metrics = await _get(port, "/metrics")
        assert metrics.status_code == 200
        assert "python_info" in metrics.text
        assert (await _get(port, "/readyz", "POST")).status_code == 405
        assert (await _get(port, "/elsewhere")).status_code == 404
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"garbage without an end")
        writer.close()
        assert (await _get(port, "/healthz")).status_code == 200, "a bad client harms nobody"
    finally:
        server.close()
        await server.wait_closed()
