"""The console in headless Chromium against a running system: a site fills the form on screen
with a mistake, sees it at the field, corrects it, files and watches the receipt reach
`published`; its city office returns it, the site sees the reason and refiles, the office
approves. Other sites and other subtrees are refused, CSRF and session fixation fail, axe-core
finds no WCAG 2.1 A/AA violation on any screen, no screen scrolls sideways at phone width or
200 % zoom, and nothing is loaded from another host."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from services.intake.console.formview import flat_values
from shared.filings import current_reporting_year
from shared.forms import load_form
from shared.registry.demo import demo_registry
from tests.support.reports import work_report_for
from tests.support.system import running_system, tokens_of
from tools.launcher import System

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

YEAR = current_reporting_year(datetime.now(UTC))
REGISTRY = demo_registry()
SITE, OTHER_SITE, CITY, OTHER_CITY = "5109030001", "5109040001", "510900", "510100"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
REASON = "网站总访问量与统计系统数据不符，请核实"


@dataclass
class Seen:
    """What the browser did across the tests: requests, axe findings per screen, widths."""

    requests: list[str] = field(default_factory=list)
    violations: dict[str, list[str]] = field(default_factory=dict)
    screens: set[str] = field(default_factory=set)


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with running_system(tmp_path_factory.mktemp("console")) as running:
        yield running


@pytest.fixture(scope="module")
def seen() -> Seen:
    return Seen()


def screenshots() -> Path:
    folder = Path(os.environ.get("NIANBAO_SCREENSHOTS", "var/screenshots")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Desk:
    """One person at the console: a browser context of their own, signed in with their token."""

    def __init__(self, browser: Any, system: System, seen: Seen, width: int = 1280) -> None:
        self.system, self.seen = system, seen
        self.context = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
        # axe comes in as Playwright's init script: the console's Content-Security-Policy,
        # enforced here as everywhere, admits no script but its own
        self.context.add_init_script(path=str(AXE))
        self.page = self.context.new_page()
        self.page.on("request", lambda request: seen.requests.append(request.url))

    def url(self, path: str) -> str:
        return f"{self.system.intake_url}/console{path}"

    def go(self, path: str) -> int:
        response = self.page.goto(self.url(path), wait_until="load")
        assert response is not None
        return int(response.status)

    def sign_in(self, token: str) -> None:
        self.go("/sign-in")
        self.page.fill("#token", token)
        self.page.click("button:has-text('登录')")
        self.page.wait_for_url(self.url("/home"))

    def audit(self, screen: str) -> None:
        """axe-core on the screen as it is now; no sideways scrolling at this width."""
        found = self.page.evaluate(
            "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))"
            ".violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))",
            WCAG,
        )
        self.seen.violations[screen] = list(found)
        self.seen.screens.add(screen)
        width = self.page.viewport_size["width"]
        scroll = self.page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, f"{screen} scrolls sideways at {width}px ({scroll}px)"

    def close(self) -> None:
        self.context.close()


def fill_report(page: Any, report: dict[str, Any]) -> None:
    """Type a report into the form on screen, input by input, as a person would."""
    for name, value in flat_values(load_form("work-report"), report).items():
        if isinstance(value, list):
            for option in value:
                page.check(f'input[name="{name}"][value="{option}"]')
            continue
        target = page.locator(f'[name="{name}"]')
        if target.count() == 0:
            continue  # a records row the form does not offer yet
        kind = target.first.get_attribute("type")
        if kind == "radio":
            page.check(f'input[name="{name}"][value="{value}"]')
        elif target.first.evaluate("e => e.tagName") == "SELECT":
            page.select_option(f'select[name="{name}"]', value)
        else:
            target.first.fill(value)


def test_a_site_files_on_screen_and_an_office_returns_and_approves(
    system: System, browser: Any, seen: Seen
) -> None:
    tokens = tokens_of(system)
    report = work_report_for(REGISTRY.sites[SITE], YEAR)
    site, office = Desk(browser, system, seen), Desk(browser, system, seen)
    shots = screenshots()
    try:
        site.go("/sign-in")
        site.audit("sign-in")
        site.sign_in(tokens[SITE])
        site.audit("site home (empty)")

        site.go(f"/file/work-report/{YEAR}")
        site.audit("form")
        fill_report(site.page, report)
        mistake = str(report["traffic"]["page_views"] + 1)
        site.page.fill("#f-traffic-unique_visitors", mistake)
        site.page.click("button[value=file]")
        issue = site.page.locator("#f-traffic-unique_visitors-issues")
        assert "独立用户访问总量" in issue.inner_text()
        assert site.page.get_attribute("#f-traffic-unique_visitors", "aria-invalid") == "true"
        assert site.page.is_visible("#error-summary")
        site.audit("form with an error")
        site.page.screenshot(
            path=str(shots / "console-form-error.png"),
            full_page=True,
            clip={"x": 0, "y": 0, "width": 1280, "height": 1040},
        )

        site.page.fill("#f-traffic-unique_visitors", str(report["traffic"]["unique_visitors"]))
        site.page.click("button[value=file]")
        site.page.wait_for_url(lambda url: "/console/receipts/" in url)
        # the page follows the receipt by itself (polling, reload on a new stage)
        site.page.wait_for_selector("#stage:has-text('已发布')", timeout=120_000)
        site.audit("receipt published")
        receipt_url = site.page.url

        office.sign_in(tokens[CITY])
        office.audit("office home")
        office.go(f"/queue?year={YEAR}")
        office.audit("queue")
        office.page.screenshot(path=str(shots / "console-queue.png"), full_page=True)
        office.go(f"/queue?year={YEAR}&status=pending")
        office.page.click("a:has-text('遂宁市船山区人民政府')")
        office.audit("filing (office)")
        office.page.fill("#return-reason", REASON)
        office.page.select_option("#return-paths", ["traffic.page_views"])
        office.page.click("form[action$='/return'] button")
        # not confirmed: the browser keeps the form (and the server would refuse it: route tests)
        assert office.page.evaluate(
            "document.querySelector('#return-confirm').validity.valueMissing"
        )
        assert office.page.url == office.url(f"/filings/{SITE}/work-report/{YEAR}")
        office.page.check("#return-confirm")
        office.page.click("form[action$='/return'] button")
        assert "已退回" in office.page.inner_text(".flash")

        site.go("/home")
        assert REASON in site.page.inner_text("main")
        site.audit("site home (returned)")
        site.page.screenshot(path=str(shots / "console-site-home.png"), full_page=True)
        site.go(f"/file/work-report/{YEAR}")
        assert REASON in site.page.inner_text("#f-traffic-page_views-issues")
        site.page.fill("#f-traffic-page_views", str(report["traffic"]["page_views"] + 1000))
        site.page.click("button[value=file]")
        site.page.wait_for_url(lambda url: "/console/receipts/" in url and url != receipt_url)
        # the refiled version is followed to the end too (the page stops polling there)
        site.page.wait_for_selector("#stage:has-text('已发布')", timeout=120_000)

        filing = f"/filings/{SITE}/work-report/{YEAR}"

        def approvable() -> bool:
            office.go(filing)
            return office.page.locator("#approve-confirm").count() == 1

        deadline = datetime.now(UTC).timestamp() + 60
        while not approvable():
            assert datetime.now(UTC).timestamp() < deadline, "version 2 never accepted"
            office.page.wait_for_timeout(500)
        assert "第 2 版" in office.page.inner_text("main")
        office.page.check("#approve-confirm")
        office.page.click("form[action$='/approve'] button")
        assert "已审核锁定" in office.page.inner_text("main")
        office.audit("filing (approved)")

        site.go(filing)
        assert "已审核锁定" in site.page.inner_text("main") and REASON in site.page.inner_text(
            "main"
        )
        site.audit("filing (site: versions and reviews)")
    finally:
        site.close()
        office.close()


def test_other_sites_and_subtrees_are_refused(system: System, browser: Any, seen: Seen) -> None:
    tokens = tokens_of(system)
    filing = f"/filings/{SITE}/work-report/{YEAR}"
    other, chengdu = Desk(browser, system, seen), Desk(browser, system, seen)
    try:
        other.sign_in(tokens[OTHER_SITE])
        assert other.go(filing) == 404
        other.audit("refused")
        assert other.go("/queue") == 403
        chengdu.sign_in(tokens[OTHER_CITY])
        assert chengdu.go(filing) == 404
        assert chengdu.go(f"/queue?node={CITY}") == 404
        assert chengdu.go(f"/queue?year={YEAR}") == 200
        assert "遂宁市船山区人民政府" not in chengdu.page.inner_text("main")
    finally:
        other.close()
        chengdu.close()


def test_csrf_and_session_fixation_fail(system: System, browser: Any, seen: Seen) -> None:
    tokens = tokens_of(system)
    victim, attacker = Desk(browser, system, seen), Desk(browser, system, seen)
    try:
        # fixation: the attacker plants a session id of its own in the victim's browser
        attacker.go("/sign-in")
        planted = next(c for c in attacker.context.cookies() if c["name"] == "nianbao_console")
        assert planted["httpOnly"] and planted["sameSite"] == "Strict"
        victim.context.add_cookies([planted])
        victim.sign_in(tokens[OTHER_SITE])
        now = next(c for c in victim.context.cookies() if c["name"] == "nianbao_console")
        assert now["value"] != planted["value"]
        attacker.go("/home")
        assert attacker.page.url == attacker.url("/sign-in")  # the planted id signs nobody in

        # CSRF: a page of another origin posts a filing in the victim's browser
        victim.page.goto(f"{system.pages_url}/index.html")
        victim.page.set_content(
            f'<form method="post" action="{victim.url(f"/file/work-report/{YEAR}")}">'
            '<input name="intent" value="save"><input name="traffic.page_views" value="1">'
            "</form>"
        )
        with victim.page.expect_navigation():
            victim.page.evaluate("document.forms[0].submit()")
        assert "表单已过期或来源不明" in victim.page.inner_text("body")
        victim.go(f"/file/work-report/{YEAR}")
        assert victim.page.input_value("#f-traffic-page_views") != "1"
    finally:
        victim.close()
        attacker.close()


def test_screens_read_at_phone_width_and_200_percent_zoom(
    system: System, browser: Any, seen: Seen
) -> None:
    tokens = tokens_of(system)
    for width in (390, 640):
        site, office = Desk(browser, system, seen, width), Desk(browser, system, seen, width)
        try:
            site.sign_in(tokens[SITE])
            site.audit(f"site home at {width}px")
            site.go(f"/file/work-report/{YEAR}")
            site.audit(f"form at {width}px")
            office.sign_in(tokens[CITY])
            office.go(f"/queue?year={YEAR}")
            office.audit(f"queue at {width}px")
            office.go(f"/filings/{SITE}/work-report/{YEAR}")
            office.audit(f"filing at {width}px")
        finally:
            site.close()
            office.close()


def test_axe_finds_nothing_and_nothing_leaves_the_local_hosts(system: System, seen: Seen) -> None:
    assert len(seen.screens) >= 12, sorted(seen.screens)
    assert {k: v for k, v in seen.violations.items() if v} == {}
    hosts = {urlsplit(system.intake_url).netloc, urlsplit(system.pages_url).netloc}
    foreign = [u for u in seen.requests if urlsplit(u).netloc not in hosts]
    assert foreign == [] and seen.requests
