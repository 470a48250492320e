"""A registry's memory: every service process holds one (six at national scale), and computes
its digest at start and at each import."""

from __future__ import annotations

import gc
import hashlib
import json
import tracemalloc
from pathlib import Path

from shared.registry.demo import demo_registry
from shared.registry.model import Registry, Site, registry_digest, registry_document
from shared.registry.national import national_registry
from shared.runtime.registry_files import dump_registry, load_registry


def whole_document_digest(registry: Registry) -> str:
    """The digest as defined: SHA-256 of the whole document's JSON text."""
    text = json.dumps(registry_document(registry), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def test_the_digest_is_that_of_the_whole_document() -> None:
    demo = demo_registry()
    for registry in (
        demo,
        national_registry(300),
        Registry([], []),
        Registry(demo.nodes.values(), []),
        Registry([], demo.sites.values()),
    ):
        assert registry_digest(registry) == whole_document_digest(registry)


def test_the_digest_is_computed_without_the_whole_document_in_memory() -> None:
    registry = national_registry(2000)
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        registry_digest(registry)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the whole document and its text took ~2.7 MiB for 2,000 sites
    assert peak - before < 256 * 1024


def test_loaded_entries_share_their_sets_of_set_fields(tmp_path: Path) -> None:
    registry = national_registry(2000)
    path = tmp_path / "registry.json"
    dump_registry(registry, path)
    loaded = load_registry(path)
    sites = list(loaded.sites.values())
    assert len({id(site.__pydantic_fields_set__) for site in sites}) == 1
    assert len({id(node.__pydantic_fields_set__) for node in loaded.nodes.values()}) == 1
    # each model still tells which fields were given
    entry = json.loads(path.read_text("utf-8"))["sites"][0]
    assert loaded.sites[entry["code"]].model_fields_set == set(entry)
    # a copy with a change gets a set of its own; the others' stay as they were
    changed = sites[0].model_copy(update={"name": "改名"})
    assert changed.name == "改名" and sites[1].model_fields_set == set(Site.model_fields)


def test_entries_given_different_fields_keep_different_sets(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    dump_registry(demo_registry(), path)  # empty cells (None) are left out of the rows
    loaded = load_registry(path)
    for site in loaded.sites.values():
        fresh = Site.model_validate(site.model_dump(exclude_unset=True))
        assert site.model_fields_set == fresh.model_fields_set
    assert len({frozenset(s.model_fields_set) for s in loaded.sites.values()}) > 1


def test_a_loaded_national_registry_is_small(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    dump_registry(national_registry(2000), path)
    gc.collect()
    tracemalloc.start()
    try:
        registry = load_registry(path)
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    entries = len(registry.nodes) + len(registry.sites)
    # ~1,500 bytes an entry with a set of field names each, ~800 with them shared
    assert held / entries < 1000
    assert peak / entries < 1700
