"""The intake's domain errors as HTTP answers: each kind's status, the Problem body clients get,
and the pure pieces of the edge (bearer header, JSON decoding, a verdict's outcome)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.intake import store as store_module
from services.intake.auth import bearer_token
from services.intake.edge import decode_json
from services.intake.errors import (
    Conflict,
    IntakeError,
    Invalid,
    Locked,
    Malformed,
    NotAllowed,
    NotFound,
    TooLarge,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
)
from services.intake.filing import form_label
from services.intake.problems import install_problem_handlers, status_of
from services.intake.progress import VerdictSeen
from services.intake.store import TokenCache, TokenHolder
from shared.contracts import IssueOut
from shared.forms import SUPERVISION_REPORT, WORK_REPORT
from shared.numbers import json_int

ISSUE = IssueOut(
    rule_id="r", severity="error", paths=["site.site_code"], message_zh="错", message_en="wrong"
)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (Malformed("z", "e", error="invalid_json"), 400, "invalid_json"),
        (Unauthenticated("z", "e"), 401, "unauthenticated"),
        (NotAllowed("z", "e"), 403, "forbidden"),
        (NotFound("z", "e"), 404, "not_found"),
        (Conflict("z", "e", error="superseded"), 409, "superseded"),
        (Locked("z", "e"), 409, "locked"),
        (TooLarge("z", "e"), 413, "too_large"),
        (UnsupportedMediaType("z", "e"), 415, "unsupported_media_type"),
        (Invalid("z", "e", [ISSUE], error="invalid_report"), 422, "invalid_report"),
        (Unavailable("z", "e"), 503, "unavailable"),
    ],
)
async def test_each_kind_answers_its_status_with_a_problem_body(
    error: IntakeError, status: int, code: str
) -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/fail")
    async def fail() -> None:
        raise error

    assert status_of(error) == status
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/fail")
    assert response.status_code == status
    assert response.json() == {
        "error": code,
        "message_zh": "z",
        "message_en": "e",
        "issues": [i.model_dump(mode="json") for i in error.issues],
    }


def test_an_invalid_field_is_one_issue_with_the_messages_of_the_error() -> None:
    error = Invalid.field("unknown_code", "registry.unknown_code", "office.code", "不在", "absent")
    assert (error.error, error.message_zh, error.message_en) == ("unknown_code", "不在", "absent")
    assert [(i.rule_id, i.paths, i.message_en) for i in error.issues] == [
        ("registry.unknown_code", ["office.code"], "absent")
    ]


def test_with_issues_keeps_the_kind_and_the_code() -> None:
    moved = Invalid("z", "e", [ISSUE], error="invalid_report").with_issues([])
    assert isinstance(moved, Invalid) and moved.error == "invalid_report" and moved.issues == []


@pytest.mark.parametrize(
    "header", [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "Bearer \u3000"]
)
def test_a_header_without_a_bearer_token_is_unauthenticated(header: str | None) -> None:
    with pytest.raises(Unauthenticated):
        bearer_token(header)


def test_a_bearer_token_is_trimmed_and_the_scheme_is_case_blind() -> None:
    assert bearer_token("bearer  nb_x ") == "nb_x"


@pytest.mark.parametrize(
    ("body", "code"),
    [(b"\xff{}", "invalid_encoding"), (b"{", "invalid_json"), (b"[" * 10**5, "invalid_json")],
)
def test_an_unreadable_body_is_malformed(body: bytes, code: str) -> None:
    with pytest.raises(Malformed) as refused:
        decode_json(body)
    assert refused.value.error == code


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": 1, "b": -0.0, "c": 0.1, "d": 1e-05, "e": 12.5, "f": "\\u4e2d\xc3\xa4", "a": 2}',
        b'{"big": 18446744073709551616, "neg": -9223372036854775809, "max": 18446744073709551615}',
        b'{"id": "1234567890123456789", "n": [1, 2.0, 1e300, 1e400, -5e-324]}',
        b'{"nan": NaN, "inf": -Infinity}',
        b"\xef\xbb\xbf{}",
        b'"\\ud800"',
        b" [true, false, null, {}] ",
        b'{"tab": "a\tb"}',
        b"[1,]",
        b"-01",
        b"9" * 5000,
    ],
)
def test_a_body_reads_as_the_standard_library_reads_it(body: bytes) -> None:
    """The fast reader gives exactly the standard library's values (types included), or the
    same refusal."""
    try:
        expected: object = json.loads(body.decode("utf-8"), parse_int=json_int)
    except (ValueError, RecursionError):
        with pytest.raises(Malformed):
            decode_json(body)
        return
    assert repr(decode_json(body)) == repr(expected)


def test_forms_are_named_by_their_definitions() -> None:
    assert form_label(WORK_REPORT) == "政府网站工作年度报表"
    assert form_label(SUPERVISION_REPORT) == "政府网站监管年度报表"
    assert form_label("annual-poem") == "annual-poem"


def verdict(**fields: Any) -> VerdictSeen:
    base = {"receipt_id": "r1", "judged_at": "2027-01-05T10:00:00Z", "report": {"big": 1}}
    return VerdictSeen.model_validate({**base, **fields})


def test_a_verdict_outcome_comes_from_its_payload() -> None:
    assert verdict(outcome="rejected", issues=[]).outcome == "rejected"
    assert verdict(outcome="accepted", issues=[ISSUE.model_dump()]).outcome == "accepted"


def test_an_earlier_verdict_without_outcome_is_rejected_exactly_when_an_error() -> None:
    assert verdict(issues=[ISSUE.model_dump()]).outcome == "rejected"
    warning = ISSUE.model_copy(update={"severity": "warning"}).model_dump()
    assert verdict(issues=[warning]).outcome == "accepted"


def test_the_cache_starts_afresh_past_its_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "TOKEN_CACHE_SIZE", 3)
    cache = TokenCache()
    unknown = TokenHolder(None, None)
    for i in range(3):
        cache.put(f"digest{i}", unknown, cache.generation)
    assert len(cache) == 3
    cache.put("digest3", unknown, cache.generation)
    assert len(cache) == 1 and cache.get("digest3") == unknown


def test_a_lookup_begun_before_a_clear_is_not_kept() -> None:
    cache = TokenCache()
    generation = cache.generation
    cache.clear()  # tokens were added while the lookup ran
    cache.put("digest", TokenHolder(None, None), generation)
    assert cache.get("digest") is None
