"""A roll-up event's JSON is encoded once, when it is built: the bytes sent are the event's
own JSON (as a dump of the event would give), the body spliced from the whole roll-up's."""

from __future__ import annotations

from services.aggregator.events import MISSING_IN_EVENT, rollup_event
from shared.contracts import RollupUpdated
from shared.forms import WORK_REPORT, count_paths, load_form, yes_no_paths
from shared.registry.national import national_registry
from shared.rollup import full_rollups
from shared.runtime.messaging.publishing import _encoded


def test_the_bytes_sent_are_the_events_own_json() -> None:
    registry = national_registry(600)
    form = load_form(WORK_REPORT)
    rollups = full_rollups(registry, 2026, {}, count_paths(form), yes_no_paths(form)).values()
    truncated = 0
    for rollup in rollups:
        event = rollup_event(rollup)
        sent = _encoded(event)
        # validated again from its fields, then dumped: the same bytes
        assert sent == RollupUpdated.model_validate(event.model_dump()).model_dump_json().encode()
        decoded = RollupUpdated.model_validate_json(sent)
        assert (decoded.year, decoded.node, decoded.digest) == (
            rollup.year,
            rollup.node,
            event.digest,
        )
        missing = decoded.rollup["tally"]["missing_sites"]
        assert missing == list(rollup.tally.missing_sites[:MISSING_IN_EVENT])
        truncated += decoded.missing_sites_truncated
    assert truncated > 0  # the national node misses more sites than an event lists
