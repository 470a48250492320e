"""A national roll-up book holds a tally per site and a roll-up per node: they share one set of
their field names (pydantic gives each model its own otherwise, ~500 bytes)."""

from __future__ import annotations

from shared.forms import WORK_REPORT, count_paths, load_form, yes_no_paths
from shared.registry.national import national_registry
from shared.rollup import NodeRollup, RollupBook, Tally


def test_tallies_and_rollups_share_their_field_names_and_stay_equal_to_validated_ones() -> None:
    registry = national_registry(300)
    form = load_form(WORK_REPORT)
    book = RollupBook(registry, 2026, count_paths(form), yes_no_paths(form))
    rollups = list(book.rollups().values())
    tallies = [r.tally for r in rollups]
    assert len({id(r.model_fields_set) for r in rollups}) == 1
    assert len({id(t.model_fields_set) for t in tallies}) == 1
    assert rollups[0].model_fields_set == set(NodeRollup.model_fields)
    assert tallies[0].model_fields_set == set(Tally.model_fields)
    for rollup in rollups[:50]:
        assert NodeRollup.model_validate(rollup.model_dump()) == rollup
