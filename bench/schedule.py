"""The open-loop load's schedule: when each request is due, and how far the sends kept to it.

At a fixed rate R, request i is due at ``start + i / R`` whatever happened to the ones before
it; the requests are dealt round-robin to the load processes (process p sends i = p, p + P, ...),
so each sends at R / P and together they keep the one schedule. A request's latency counts from
when it was due, not from when it left: a send held back (every connection busy, the generator
descheduled) is the system's queueing too, and measuring from the send would hide it
(coordinated omission). Pure arithmetic; no clock is read here.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.measure import summary_ms

#: a send that leaves this much after it was due counts as late
LATE_AFTER_S = 0.010


def due_offsets(count: int, rate: float, processes: int, process: int) -> list[float]:
    """Seconds after the start at which ``process`` (of ``processes``) sends its share of
    ``count`` requests: its requests are ``process, process + processes, ...``."""
    if rate <= 0:
        raise ValueError(f"the rate must be positive: {rate}")
    if not 0 <= process < processes:
        raise ValueError(f"process {process} is not one of {processes}")
    return [i / rate for i in range(process, count, processes)]


def sent_rate(start: float, sent: Sequence[float], rate: float) -> float:
    """Requests per second as they actually left: ``n`` sends over the time a schedule kept to
    exactly would take for them (``n / rate``), so a schedule kept to gives ``rate``."""
    if not sent:
        return 0.0
    return len(sent) / (max(sent) - start + 1 / rate)


def schedule_figures(
    start: float, due: Sequence[float], sent: Sequence[float], rate: float
) -> dict[str, object]:
    """How the sends kept to the schedule: offered and achieved send rate, the sends that left
    late (more than ``LATE_AFTER_S`` after they were due), and the lag of every send."""
    lags = [max(0.0, s - d) for d, s in zip(due, sent, strict=True)]
    return {
        "offered_rate_per_s": rate,
        "sent_rate_per_s": round(sent_rate(start, sent, rate), 1),
        "late_sends": sum(1 for lag in lags if lag > LATE_AFTER_S),
        "late_after_ms": LATE_AFTER_S * 1000,
        "send_lag_ms": summary_ms(lags),
    }
