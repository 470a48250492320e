"""Property-based fuzzing of the intake's HTTP API from its own OpenAPI document (schemathesis):
valid and invalid requests to every operation, with a valid site token and with none, never
get a 5xx. Bounded: a few examples per operation, mode and caller (< 60 s)."""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from shared.excel import XLSX_MEDIA_TYPE
from tests.support.figures import SECURITY_FIGURES
from tools.launcher import System

pytestmark = pytest.mark.e2e

#: examples per (operation, generation mode, caller); NIANBAO_FUZZ_EXAMPLES raises it
EXAMPLES = int(os.environ.get("NIANBAO_FUZZ_EXAMPLES", "15"))
SITE = "1100000088"


@schemathesis.serializer(XLSX_MEDIA_TYPE)
def workbook_bytes(_ctx: Any, value: Any) -> bytes:
    """The report endpoint also takes a workbook: whatever was generated, as raw bytes."""
    return value if isinstance(value, bytes) else str(value).encode()


def test_no_request_from_the_openapi_document_gets_a_5xx(
    system: System, tokens: dict[str, str]
) -> None:
    document = httpx.get(f"{system.intake_url}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    callers: dict[str, dict[str, str] | None] = {
        "site token": {"Authorization": f"Bearer {tokens[SITE]}"},
        "no token": None,
    }
    statuses: Counter[int] = Counter()
    server_errors: list[tuple[str, str, int, str]] = []
    unsent = 0
    nothing_to_generate: set[str] = set()
    started = time.monotonic()
    session = requests.Session()

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
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            server_errors.append(
                (caller, f"{case.method} {case.formatted_path}", response.status_code,
                 response.text[:200])
            )  # fmt: skip

    def fuzzer(strategy: Any, caller: str, auth: dict[str, str] | None) -> Any:
        @given(case=strategy)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            send(case, caller, auth)

        return fuzz

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)
            for caller, auth in callers.items():
                try:
                    fuzzer(strategy, caller, auth)()
                except Unsatisfiable:  # e.g. no invalid request exists for this operation
                    nothing_to_generate.add(f"{operation.label} ({mode.value})")
    cases = sum(statuses.values())
    SECURITY_FIGURES["fuzzing (schemathesis)"] = (
        f"{cases} cases over {len(operations)} operations in "
        f"{time.monotonic() - started:.0f} s ({unsent} not sendable; nothing to generate for "
        f"{len(nothing_to_generate)} operation-modes), answers "
        + ", ".join(f"{s}×{n}" for s, n in sorted(statuses.items()))
    )
    assert server_errors == [], server_errors[:10]
