"""Property-based fuzzing of the intake's HTTP API from its own OpenAPI document (schemathesis):
valid and invalid requests to every operation, with a site's, an office's and the operator's
token and with none, never get a 5xx. Path parameters are often real ids (receipts filed before,
registered sites and nodes), so the cases reach the handlers, not only a 404; per operation the
figures say how many did. Bounded (< 60 s); `make test-fuzz-soak` runs at least 10,000 cases.
On PostgreSQL when NIANBAO_TEST_POSTGRES_URL is set (it refuses what SQLite forgives)."""

from __future__ import annotations

import copy
import itertools
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from shared.excel import XLSX_MEDIA_TYPE
from shared.registry.demo import demo_registry
from tests.support.databases import fresh_postgres_database, postgres_url
from tests.support.figures import SECURITY_FIGURES
from tests.support.pipeline import YEAR
from tests.support.reports import work_report_for
from tests.support.system import running_system, tokens_of
from tools.launcher import SERVICES, System

#: examples per (operation, generation mode, caller); NIANBAO_FUZZ_EXAMPLES raises it
EXAMPLES = int(os.environ.get("NIANBAO_FUZZ_EXAMPLES", "5"))

#: ~100 cases per example (12 operations, 2 modes, 4 callers), up to ~0.1 s each
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300 + 12 * EXAMPLES)]
#: the run fails with fewer cases sent (the soak's promise: `make test-fuzz-soak`)
MIN_CASES = int(os.environ.get("NIANBAO_FUZZ_MIN_CASES", "0"))
SITE, OTHER_SITE, OFFICE = "1100000088", "1101010001", "110000"
#: answers given before a handler ran: the token, the request's shape, its size or media type
GATES = frozenset(
    {
        "unauthenticated",
        "invalid_request",
        "too_large",
        "unsupported_media_type",
        "invalid_json",
        "invalid_encoding",
    }
)


@schemathesis.serializer(XLSX_MEDIA_TYPE)
def workbook_bytes(_ctx: Any, value: Any) -> bytes:
    """The report endpoint also takes a workbook: whatever was generated, as raw bytes
    (schemathesis hands binary bodies over wrapped: an empty ``str`` holding ``.data``)."""
    if isinstance(value, bytes):
        return value
    data = getattr(value, "data", None)
    return data if isinstance(data, bytes) else str(value).encode()


def with_forms_as_components(document: dict[str, Any]) -> dict[str, Any]:
    """The document with each form's schema self-contained no more: its ``$defs`` moved to
    ``components/schemas``. schemathesis drops a body alternative whose schema carries its own
    ``$schema`` and ``$defs``, so the JSON report body was never generated, only the workbook."""
    document = copy.deepcopy(document)
    components = document.setdefault("components", {}).setdefault("schemas", {})
    body = document["paths"]["/v1/reports"]["post"]["requestBody"]["content"]["application/json"]
    forms = []
    for index, form in enumerate(body["schema"]["oneOf"]):
        prefix = f"Form{index}"

        def moved(node: Any, prefix: str = prefix) -> Any:
            if isinstance(node, dict):
                return {
                    k: f"#/components/schemas/{prefix}{v.removeprefix('#/$defs/')}"
                    if k == "$ref" and isinstance(v, str) and v.startswith("#/$defs/")
                    else moved(v)
                    for k, v in node.items()
                }
            if isinstance(node, list):
                return [moved(item) for item in node]
            return node

        form = {k: v for k, v in form.items() if k != "$schema"}
        for name, definition in form.pop("$defs", {}).items():
            components[f"{prefix}{name}"] = moved(definition)
        forms.append(moved(form))
    body["schema"]["oneOf"] = forms
    return document


@pytest.fixture(scope="module")
def fuzzed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The security suite's system; its intake on a fresh PostgreSQL database when
    NIANBAO_TEST_POSTGRES_URL names one."""

    def start() -> Iterator[tuple[System, str]]:
        with fresh_postgres_database(postgres_url(), prefix="nianbao_fuzz") as database:
            if database is None:
                yield request.getfixturevalue("system"), "SQLite"
                return
            env = {"NIANBAO_LAG_POLL_SECONDS": "60", "NIANBAO_INTAKE_DATABASE_URL": database}
            with running_system(
                tmp_path_factory.mktemp("fuzz-postgres"), services=SERVICES, env=env
            ) as system:
                yield system, "PostgreSQL"

    yield from start()


def real_ids(system: System, tokens: dict[str, str]) -> dict[str, list[Any]]:
    """Ids the fuzzer puts into path parameters: receipts filed now, sites, nodes, forms."""
    registry = demo_registry()
    receipts = []
    for code, scale in ((SITE, 1), (SITE, 2), (OTHER_SITE, 1)):
        response = httpx.post(
            f"{system.intake_url}/v1/reports",
            json=work_report_for(registry.sites[code], YEAR, scale),
            headers={"Authorization": f"Bearer {tokens[code]}"},
            timeout=30,
        )
        assert response.status_code == 202, response.text
        receipts.append(response.json()["receipt_id"])
    return {
        "receipt_id": receipts,
        "code": [SITE, OTHER_SITE, OFFICE, "CN", "510000"],
        "node": [OFFICE, "CN", "510000"],
        "form": ["work-report", "supervision-report"],
        "year": [YEAR, YEAR - 1],
    }


def pin(case: Any, real: dict[str, list[Any]], caller: str | None, pick: int) -> None:
    """Put real ids into the case's path, and the caller's code and year into a report body."""
    for name in case.path_parameters or {}:
        if name in real:
            case.path_parameters[name] = real[name][pick % len(real[name])]
    body = case.body
    if isinstance(body, dict) and caller is not None:
        if isinstance(body.get("site"), dict):
            body["site"]["site_code"] = caller
        if isinstance(body.get("office"), dict):
            body["office"]["code"] = caller
        body["year"] = YEAR


def labelled(case: Any) -> str:
    """The case's operation; a report's with its media type (JSON and workbook apart)."""
    label = str(case.operation.label)
    return f"{label} [{case.media_type}]" if label == "POST /v1/reports" else label


def test_no_request_from_the_openapi_document_gets_a_5xx(fuzzed: tuple[System, str]) -> None:
    system, database = fuzzed
    tokens = tokens_of(system)
    real = real_ids(system, tokens)
    document = httpx.get(f"{system.intake_url}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(with_forms_as_components(document))
    operations = [result.ok() for result in schema.get_all_operations()]
    callers: dict[str, tuple[str | None, dict[str, str] | None]] = {
        "site": (SITE, {"Authorization": f"Bearer {tokens[SITE]}"}),
        "office": (OFFICE, {"Authorization": f"Bearer {tokens[OFFICE]}"}),
        "operator": (None, {"Authorization": f"Bearer {tokens['operator']}"}),
        "no token": (None, None),
    }
    statuses: Counter[int] = Counter()
    #: per operation: cases sent, cases a handler answered, of those not "not found"
    reached: dict[str, Counter[str]] = defaultdict(Counter)
    server_errors: list[tuple[str, str, int, str]] = []
    unsent = 0
    nothing_to_generate: set[str] = set()
    started = time.monotonic()
    session = requests.Session()
    turns = itertools.count()

    def send(case: Any, caller: str, auth: dict[str, str] | None) -> None:
        nonlocal unsent
        if auth is None:
            case.headers = {
                k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"
            }
        try:
            response = case.call(
                base_url=system.intake_url, session=session, headers=auth, timeout=30
            )
        except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL, ValueError):
            unsent += 1  # the client refuses to send it (a NUL in a header): nothing to judge
            return
        status, label = response.status_code, labelled(case)
        statuses[status] += 1
        tally = reached[label]
        tally["cases"] += 1
        if status >= 500:
            server_errors.append(
                (caller, f"{case.method} {case.formatted_path}", status, response.text[:200])
            )
            return
        try:
            error = response.json().get("error") if status >= 400 else None
        except (ValueError, AttributeError):  # not a Problem: FastAPI's own 404, 405
            error = "(no handler)"
        if status < 400 or (error is not None and error not in GATES):
            tally["reached"] += 1
            if error != "not_found":
                tally["found"] += 1

    def fuzzer(strategy: Any, caller: str) -> Any:
        code, auth = callers[caller]

        @given(case=strategy, use_real=st.booleans())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any, use_real: bool) -> None:
            if use_real:  # each id in turn (hypothesis would mostly draw the first)
                pin(case, real, code, next(turns))
            send(case, caller, auth)

        return fuzz

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)
            for caller in callers:
                try:
                    fuzzer(strategy, caller)()
                except Unsatisfiable:  # e.g. no invalid request exists for this operation
                    nothing_to_generate.add(f"{operation.label} ({mode.value})")
    cases = sum(statuses.values())
    SECURITY_FIGURES["fuzzing (schemathesis)"] = (
        f"{cases} cases over {len(operations)} operations on {database} in "
        f"{time.monotonic() - started:.0f} s ({unsent} not sendable; nothing to generate for "
        f"{len(nothing_to_generate)} operation-modes), answers "
        + ", ".join(f"{s}×{n}" for s, n in sorted(statuses.items()))
    )
    SECURITY_FIGURES["fuzzing per operation: cases / reached the handler / found its subject"] = (
        "; ".join(
            f"{label} {t['cases']}/{t['reached']}/{t['found']}" for label, t in reached.items()
        )
    )
    assert server_errors == [], server_errors[:10]
    expected = {o.label for o in operations} - {"POST /v1/reports"}
    expected |= {f"POST /v1/reports [{kind}]" for kind in ("application/json", XLSX_MEDIA_TYPE)}
    assert expected == set(reached)  # every operation, and the report in both media types
    blind = sorted(label for label, t in reached.items() if not t["found"])
    assert blind == [], f"operations whose handler never found what a case asked for: {blind}"
    assert cases >= MIN_CASES, f"{cases} cases, fewer than NIANBAO_FUZZ_MIN_CASES={MIN_CASES}"
