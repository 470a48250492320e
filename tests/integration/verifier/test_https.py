"""The verifier over HTTPS against fake sites on 127.0.0.1 with certificates of a local CA
(trustme): TLS is verified with the CA bundle setting (NIANBAO_VERIFIER_CA_BUNDLE); a site whose
certificate that bundle does not trust ends `unreachable` with a finding, a trusted one
`verified`; without the setting, the system's trust store trusts neither."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trustme

from services.verifier.checks import Checker
from services.verifier.fetching import Fetcher, fixed_resolver
from services.verifier.main import VerifierSettings, fetch_policy
from services.verifier.runs import Verifier
from services.verifier.store import VerifierStore
from shared.contracts import ReportAccepted
from shared.publication import PublicationChecked, PublicationDeclared
from shared.registry import Level, Node, Registry, Site, SiteType, Tree
from shared.runtime.db import make_engine
from shared.runtime.messaging import Envelope
from tests.support.fleet import (
    CITY,
    IDENTIFIERS,
    PROVINCE,
    YEAR,
    FleetProcess,
    content_hash,
    fleet_server,
    free_port,
    home,
    report_page,
)

TRUSTED, UNTRUSTED = "5109000101", "5109000102"
LINK = f'<a href="/nb/{YEAR}.html">{YEAR}年政府网站工作年度报表</a>'


def host(code: str) -> str:
    return f"s{code}.gov.test"


def pages(code: str) -> dict[str, dict[str, dict[str, Any]]]:
    return {host(code): {"/": home(code, LINK), f"/nb/{YEAR}.html": {"body": report_page(code)}}}


@dataclass
class Sites:
    ca_bundle: Path
    trusted: FleetProcess
    untrusted: FleetProcess

    def homepage(self, code: str) -> str:
        fleet = self.trusted if code == TRUSTED else self.untrusted
        return f"https://{host(code)}:{fleet.port}/"


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    """Two HTTPS fleets: one with a certificate of the CA the verifier is given, one with a
    certificate of another CA (valid for the same names, but not trusted)."""
    directory = tmp_path_factory.mktemp("https")
    ours, theirs = trustme.CA(), trustme.CA()
    bundle = directory / "ca.pem"
    ours.cert_pem.write_to_path(str(bundle))
    served = []
    for name, ca, code in (("trusted", ours, TRUSTED), ("untrusted", theirs, UNTRUSTED)):
        (directory / name).mkdir()
        chain = directory / name / "server.pem"
        ca.issue_cert("*.gov.test").private_key_and_cert_chain_pem.write_to_path(str(chain))
        served.append((pages(code), directory / name, chain))
    with (
        fleet_server(served[0][0], served[0][1], free_port(), certfile=served[0][2]) as trusted,
        fleet_server(served[1][0], served[1][1], free_port(), certfile=served[1][2]) as untrusted,
    ):
        yield Sites(bundle, trusted, untrusted)


def registry(sites: Sites) -> Registry:
    nodes = [
        Node(code="CN", name="全国", level=Level.NATIONAL, tree=Tree.ADMIN),
        Node(code=PROVINCE, name="四川省", level=Level.PROVINCE, tree=Tree.ADMIN, parent="CN"),
        Node(code=CITY, name="遂宁市", level=Level.CITY, tree=Tree.ADMIN, parent=PROVINCE),
    ]
    site_list = [
        Site(
            code=code,
            name=f"测试网站{code[-3:]}",
            homepage_url=sites.homepage(code),
            type=SiteType.DEPARTMENT,
            sponsor="遂宁市",
            admin_node=CITY,
        )
        for code in (TRUSTED, UNTRUSTED)
    ]
    return Registry(nodes, site_list)


def accepted(code: str) -> ReportAccepted:
    now = datetime.now(UTC)
    return ReportAccepted(
        receipt_id=f"r{code}", content_hash=content_hash(code), form="work-report",
        form_version="2018", year=YEAR, code=code, version=1, received_at=now, judged_at=now,
        report={"site": {"site_code": code, **IDENTIFIERS}}, issues=[],
    )  # fmt: skip


def declared(code: str, url: str) -> PublicationDeclared:
    return PublicationDeclared(
        declaration_id=f"d{code}", kind="report", code=code, year=YEAR, url=url,
        declared_by=code, at=datetime.now(UTC),
    )  # fmt: skip


async def check_both(
    sites: Sites, database_url: str, settings: VerifierSettings
) -> dict[str, PublicationChecked]:
    """Both sites checked once by a verifier with these settings: each one's check."""
    fetcher = Fetcher(fetch_policy(settings), fixed_resolver({"*": "127.0.0.1"}))
    store = VerifierStore(make_engine(database_url))
    await store.create()
    published: list[PublicationChecked] = []

    async def publish(event: PublicationChecked) -> None:
        published.append(event)

    verifier = Verifier(registry(sites), store, Checker(fetcher.get), publish)
    try:
        codes = (TRUSTED, UNTRUSTED)
        events: list[Any] = [Envelope(None, accepted(code)) for code in codes]
        await verifier.on_accepted(events)
        reports = [declared(c, f"{sites.homepage(c)}nb/{YEAR}.html") for c in codes]
        await verifier.on_declared([Envelope(None, e) for e in reports])  # type: ignore[arg-type]
        assert await verifier.run_due() == 2
        await verifier.drain()
    finally:
        await fetcher.close()
        await store.engine.dispose()
    return {e.code: e for e in published}


def settings(**kw: Any) -> VerifierSettings:
    return VerifierSettings(
        verifier_allow_networks=["127.0.0.0/8"],
        verifier_host_pause_seconds=0.05,
        verifier_total_timeout_seconds=10,
        **kw,
    )


async def test_the_ca_bundle_decides_which_certificate_is_trusted(
    sites: Sites, database_url: str
) -> None:
    checks = await check_both(
        sites, database_url, settings(verifier_ca_bundle=str(sites.ca_bundle))
    )
    trusted, untrusted = checks[TRUSTED], checks[UNTRUSTED]
    assert trusted.state == "verified", trusted.findings
    assert trusted.url.startswith("https://")
    assert untrusted.state == "unreachable"
    assert [f.kind for f in untrusted.findings] == ["tls"]
    assert "证书校验失败" in untrusted.findings[0].message_zh
    assert sites.untrusted.stats()["requests"].get(host(UNTRUSTED), 0) == 0  # no request got in


async def test_without_the_bundle_the_local_ca_is_not_trusted(sites: Sites, tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'verifier.db'}"
    checks = await check_both(sites, database, settings())
    assert {code: c.state for code, c in checks.items()} == {
        TRUSTED: "unreachable",
        UNTRUSTED: "unreachable",
    }
