"""The open-loop load without a system: the schedule's arithmetic, the client kept to it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest

from bench.compare import comparison, comparison_table
from bench.figures import http_target, intake_figures, targets
from bench.load import Posted, encode_post, push_at_rate
from bench.report import intake_rows
from bench.schedule import LATE_AFTER_S, due_offsets, schedule_figures, sent_rate


def test_each_request_is_due_at_its_index_over_the_rate_dealt_round_robin() -> None:
    shares = [due_offsets(10, 4.0, 3, p) for p in range(3)]
    assert shares[0] == [0.0, 0.75, 1.5, 2.25]
    assert shares[1] == [0.25, 1.0, 1.75] and shares[2] == [0.5, 1.25, 2.0]
    assert sorted(t for share in shares for t in share) == [i / 4.0 for i in range(10)]
    assert due_offsets(0, 4.0, 2, 1) == []
    with pytest.raises(ValueError):
        due_offsets(10, 0.0, 1, 0)
    with pytest.raises(ValueError):
        due_offsets(10, 4.0, 2, 2)


def test_a_schedule_kept_to_is_sent_at_the_offered_rate_and_late_sends_are_counted() -> None:
    start, rate = 100.0, 50.0
    due = [start + i / rate for i in range(100)]
    assert sent_rate(start, due, rate) == pytest.approx(rate)
    assert schedule_figures(start, due, due, rate)["late_sends"] == 0
    slipped = [d + (0.5 if i >= 90 else LATE_AFTER_S / 2) for i, d in enumerate(due)]
    figures = schedule_figures(start, due, slipped, rate)
    assert figures["late_sends"] == 10 and figures["offered_rate_per_s"] == rate
    assert figures["sent_rate_per_s"] == pytest.approx(100 / (99 / rate + 0.5 + 1 / rate), abs=0.1)
    assert figures["send_lag_ms"]["max"] == 500.0  # type: ignore[index]
    assert sent_rate(start, [], rate) == 0.0


def test_at_a_fixed_rate_latency_counts_from_when_a_request_was_due() -> None:
    start = 10.0
    posted = [
        Posted("a", 202, sent=10.0, done=10.1, body={}, due=10.0),
        # held back 0.4 s (every connection busy), then answered in 0.1 s: 0.5 s late to the user
        Posted("b", 202, sent=10.5, done=10.6, body={}, due=10.1),
    ]
    figures = intake_figures(posted, start, rate=10.0, connections=1)
    assert figures["mode"] == "fixed rate" and figures["connections"] == 1
    assert figures["latency_ms"]["max"] == 500.0 and figures["late_sends"] == 1
    # in a closed loop a request is due when it is sent
    closed = intake_figures([Posted(p.code, 202, p.sent, p.done, {}) for p in posted], start)
    assert closed["mode"] == "closed loop" and closed["latency_ms"]["max"] == 100.0
    assert "late_sends" not in closed


def test_the_http_p99_target_is_held_only_at_a_fixed_rate() -> None:
    def intake(mode: str, p99: float) -> dict[str, object]:
        return {"mode": mode, "latency_ms": {"p50": 1.0, "p95": 2.0, "p99": p99}}

    closed = http_target(intake("closed loop", 580.0))
    assert closed["met"] is None and not closed["applies"] and "--rate" in closed["note"]
    assert http_target(intake("fixed rate", 300.0))["met"] is True
    assert http_target(intake("fixed rate", 301.0))["met"] is False


def test_the_burst_target_is_not_held_when_the_rate_alone_makes_it_longer() -> None:
    def result(rate: float) -> dict[str, Any]:
        latency = {"p50": 1.0, "p95": 2.0, "p99": 3.0}
        return {
            "sites": 14_474,
            "intake": {"mode": "fixed rate", "requests": 14_474, "offered_rate_per_s": rate}
            | {"latency_ms": latency},
            "end_to_end": {"seconds": 70.0},
            "amendments": {"to_national_rollup_ms": latency, "to_site_page_ms": latency},
        }

    def burst(rate: float) -> dict[str, Any]:
        return next(t for t in targets(result(rate)) if t["target"] == "burst end to end")

    slow = burst(150.0)  # 96.5 s of POSTs: a 60 s burst cannot be asked of it
    assert slow["met"] is None and "96.5 s" in slow["note"]
    assert burst(300.0)["met"] is False  # 48.2 s of POSTs: it can


def test_the_table_and_the_comparison_say_the_load_was_at_a_fixed_rate() -> None:
    start = 0.0
    posted = [Posted(f"s{i}", 202, i / 100, i / 100 + 0.05, {}, due=i / 100) for i in range(200)]
    intake = intake_figures(posted, start, rate=100.0, connections=8, in_flight=5)
    text = "\n".join(f"{name}  {value}" for name, value in intake_rows(intake))
    assert "HTTP intake at fixed rate 100 req/s" in text and "/ 0 sent > 10 ms" in text
    assert "sent 100.0, answered" in text and "at most 5 in flight, 8 connections" in text
    capped = intake_figures(posted, start, rate=100.0, connections=8, in_flight=8, connection_cap=8)
    assert "8 connections (the cap)" in "\n".join(v for _, v in intake_rows(capped))
    runs = [{"sites": n, "rate": 100.0, "intake": intake} for n in (100, 1000)]
    summary = comparison(runs)
    assert summary["rate"] == 100.0
    assert "HTTP load: fixed rate 100 req/s" in comparison_table(summary)
    figures = {f["figure"]: f["values"] for f in summary["figures"]}
    assert figures["HTTP offered rate (req/s)"] == [100.0, 100.0]


async def _server(
    answer_after: float, hold_first: int = 0
) -> tuple[asyncio.Server, int, list[int]]:
    """An HTTP/1.1 server answering 202 after ``answer_after`` s; the first request it is sent
    is answered only once ``hold_first`` others have arrived (or 5 s have passed). Its port and
    the connections it accepted."""
    arrivals: list[int] = []
    connections: list[int] = []
    others_arrived = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            await reader.readexactly(length)
            n = len(arrivals)
            arrivals.append(n)
            if n == hold_first:
                others_arrived.set()
            if n == 0 and hold_first:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(others_arrived.wait(), 5)
            await asyncio.sleep(answer_after)  # the service's own time for this request
            body = b'{"receipt_id": "r%d"}' % n
            writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], connections


def _requests(port: int, count: int) -> list[tuple[str, bytes]]:
    return [
        (f"s{i}", encode_post(f"127.0.0.1:{port}", "/v1/reports", "t", b'{"n": %d}' % i))
        for i in range(count)
    ]


async def _now() -> float:
    return time.monotonic() + 0.05


async def test_a_slow_answer_does_not_hold_back_the_requests_due_after_it() -> None:
    """The first request is answered only after every other one has arrived: in a closed loop
    over one connection they could not have; here they leave when due, over more connections."""
    rate, count = 100.0, 40
    server, port, accepted = await _server(0.005, hold_first=count - 1)
    async with server:
        posted, opened, in_flight = await push_at_rate(
            f"http://127.0.0.1:{port}",
            _requests(port, count),
            due_offsets(count, rate, 1, 0),
            connections=1,
            max_connections=16,
            start=_now,
        )
    assert len(posted) == count and {p.status for p in posted} == {202}
    assert 1 < opened <= 16 and len(accepted) == opened  # more opened while the first waited
    assert 2 <= in_flight <= opened
    by_code = {p.code: p for p in posted}
    first = by_code.pop("s0")
    assert all(p.done <= first.done for p in by_code.values())
    assert first.done - first.sent < 4  # held until the others arrived, not for the 5 s
    assert first.due is not None and by_code["s39"].due == pytest.approx(first.due + 39 / rate)
    assert first.latency >= 39 / rate - 1e-6  # answered after the last one was due


async def test_past_the_connection_cap_the_wait_shows_in_the_latency() -> None:
    """One connection, answers in 50 ms, due every 10 ms: the sends slip, and latency counted
    from when each was due grows with the queue (from the send it would stay ~50 ms)."""
    server, port, _ = await _server(0.05)
    rate, count = 100.0, 10
    async with server:
        posted, opened, in_flight = await push_at_rate(
            f"http://127.0.0.1:{port}",
            _requests(port, count),
            due_offsets(count, rate, 1, 0),
            connections=1,
            max_connections=1,
            start=_now,
        )
    assert opened == in_flight == 1 and len(posted) == count
    # first come, first served: held back, they still leave in the order they were due
    assert [p.code for p in sorted(posted, key=lambda p: p.sent)] == [f"s{i}" for i in range(count)]
    figures = intake_figures(posted, min(p.due for p in posted if p.due), rate=rate, connections=1)
    assert figures["late_sends"] >= count - 2
    assert figures["sent_rate_per_s"] < rate * 0.5
    assert figures["latency_ms"]["max"] >= 0.05 * count * 1000 - 9 / rate * 1000 - 15
    assert max(p.done - p.sent for p in posted) < 0.3  # what a closed loop would have reported
