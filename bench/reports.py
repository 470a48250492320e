"""Valid work reports for any registered site, their numbers varied per site and reproducible.

Every figure is drawn from a generator seeded by (seed, site code, version), and the dependent
figures are derived so that every rule of the form holds: totals are the sums of their parts,
parts never exceed their wholes, channels with a name have counts. A report is accepted without
warnings, so the benchmark measures the pipeline, not the rules' messages.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from shared.forms import WORK_REPORT
from shared.registry import Site

#: province division prefix → the abbreviation ICP and public-security filings start with
PROVINCE_ABBREVIATIONS = {
    code: name
    for code, name in zip(
        (11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50),
        "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝",
        strict=True,
    )
} | dict(zip((51, 52, 53, 54, 61, 62, 63, 64, 65), "川贵云藏陕甘青宁新", strict=True))
INNOVATIONS = ("search_as_service", "multilingual", "accessibility", "personalization")


def site_rng(seed: int, code: str, version: int) -> random.Random:
    digest = hashlib.sha256(f"{seed}:{code}:{version}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def abbreviation(site: Site) -> str:
    prefix = site.admin_node[:2]
    return PROVINCE_ABBREVIATIONS.get(int(prefix), "京") if prefix.isdigit() else "京"


def security_county(site: Site) -> str:
    """The county-level division a public-security number starts with: the site's own county,
    else one of its province's (the number's abbreviation names the province)."""
    abbr = abbreviation(site)
    province = next(str(code) for code, name in PROVINCE_ABBREVIATIONS.items() if name == abbr)
    admin = site.admin_node
    return admin if admin[:2] == province and admin[4:] != "00" else f"{province}0102"


def work_report(site: Site, year: int, seed: int = 0, version: int = 1) -> dict[str, Any]:
    """A report for ``site`` that passes every rule; the same arguments give the same report."""
    rng = site_rng(seed, site.code, version)
    size = 10 ** rng.uniform(-1.5, 0.5) * (4 if site.type.value == "portal" else 1)

    def count(base: float) -> int:
        return max(1, round(base * size * rng.uniform(0.6, 1.4)))

    def part(whole: int, low: float = 0.5, high: float = 1.0) -> int:
        return min(whole, round(whole * rng.uniform(low, high)))

    abbr = abbreviation(site)
    visitors = count(800_000)
    info = {"overview": count(120), "news": count(1_800), "disclosure_catalog": count(1_200)}
    maintained = count(20)
    interpretation = {
        "materials": count(60),
        "products": count(40),
        "media_commentary": count(6),
    }
    items_total = count(600)
    cases = {"natural_person": count(300_000), "legal_person": count(100_000)}
    received = count(5_000)
    closed = part(received, 0.9)
    surveys_rounds = count(5)
    interview_questions = count(900)
    assessments = count(3)
    issues_found = count(4)
    features = sorted(rng.sample(INNOVATIONS, rng.randint(0, 3)))
    return {
        "form": WORK_REPORT,
        "form_version": "2018",
        "year": year,
        "site": {
            "name": site.name,
            "homepage_url": site.homepage_url,
            "sponsor": site.sponsor,
            "type": site.type.value,
            "site_code": site.code,
            "icp_filing": f"{abbr}ICP备{rng.randrange(10**7, 10**8):08d}号",
            "psb_filing": f"{abbr}公网安备{security_county(site)}{rng.randrange(10**8):08d}号",
        },
        "traffic": {"unique_visitors": visitors, "page_views": visitors * rng.randint(2, 8)},
        "info": {"total": sum(info.values()), **info},
        "columns": {"maintained": maintained, "new": part(maintained, 0.0, 0.3)},
        "interpretation": {
            "total": sum(interpretation.values()),
            **interpretation,
            "hotspot_responses": count(8),
        },
        "services": {
            "catalog_published": rng.random() < 0.9,
            "registered_users": count(200_000),
            "items_total": items_total,
            "items_fully_online": part(items_total, 0.4, 0.95),
            "cases": {"total": sum(cases.values()), **cases},
        },
        "interaction": {
            "unified_platform": rng.random() < 0.8,
            "messages": {
                "received": received,
                "closed": closed,
                "avg_days": round(rng.uniform(1, 12), 1),
                "public_replies": part(received, 0.2, 0.6),
            },
            "surveys": {
                "rounds": surveys_rounds,
                "opinions": count(900),
                "results_published": part(surveys_rounds, 0.6),
            },
            "interviews": {
                "rounds": count(4),
                "questions": interview_questions,
                "answers": part(interview_questions, 0.8),
            },
            "smart_qa": rng.random() < 0.5,
        },
        "security": {
            "assessments": assessments,
            "issues_found": issues_found,
            "issues_fixed": part(issues_found, 0.7),
            "monitoring": rng.random() < 0.95,
            "emergency_drill": rng.random() < 0.7,
            "responsible_person": True,
        },
        "new_media": {
            "has": True,
            "weibo": {"name": f"{site.name}微博", "posts": count(900), "followers": count(90_000)},
            "wechat": {
                "name": f"{site.name}微信",
                "posts": count(400),
                "subscribers": count(40_000),
            },
            "other": [],
        },
        "innovation": {"features": features, "other_text": None},
        "signoff": {
            "unit_head": "张明",
            "reviewer": "李华",
            "filler": "王芳",
            "phone": "010-12345678",
            "fill_date": f"{year + 1}-01-{rng.randint(2, 28):02d}",
        },
    }


def amended(report: dict[str, Any], step: int) -> dict[str, Any]:
    """The same report corrected: ``step`` more cases filed by natural persons (totals kept)."""
    cases = dict(report["services"]["cases"])
    cases["natural_person"] += step
    cases["total"] = cases["natural_person"] + cases["legal_person"]
    return {**report, "services": {**report["services"], "cases": cases}}
