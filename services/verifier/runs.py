"""The verifier's use cases: watch accepted reports and declarations, run due checks (daily
until the national deadline and once after it, unreachable hosts with backoff), re-check a
subtree on request, record evidence and publish each check's state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from services.verifier.accepted import Accepted, target_values, watched_kind
from services.verifier.checks import Checker, Outcome, Target
from services.verifier.store import (
    CheckRow,
    FetchRow,
    Key,
    Recorded,
    VerifierStore,
    Watched,
    compressed_copy,
)
from shared.deadlines import national_deadline
from shared.publication import PublicationChecked, PublicationDeclared
from shared.registry import Registry, SiteType
from shared.runtime.messaging import Envelope

log = logging.getLogger(__name__)

#: an accepted report: ``AcceptedSeen`` off the stream, ``ReportAccepted`` in tests and tools
A = TypeVar("A", bound=Accepted)
Publish = Callable[[PublicationChecked], Awaitable[None]]
#: checks finished within this long are stored in one transaction
RECORD_LINGER_SECONDS = 0.1
#: the longest the check loop sleeps when nothing changes (a clock that jumps is seen by then)
MAX_PAUSE_SECONDS = 60.0


@dataclass(frozen=True)
class Timing:
    #: between two checks before the national deadline (a day)
    interval: timedelta = timedelta(days=1)
    #: first retry of an unreachable host; doubles up to ``interval``
    backoff: timedelta = timedelta(minutes=10)
    #: retries of an unreachable host after the deadline
    retries_after_deadline: int = 5
    #: a 专栏 is re-checked this long after a site below it declares (a burst of declarations
    #: is one check of the column, not one per site)
    column_settle: timedelta = timedelta(minutes=5)

    def next_check(self, year: int, state: str, failures: int, at: datetime) -> datetime | None:
        deadline = national_deadline(year)
        if state == "unreachable":
            if at > deadline and failures > self.retries_after_deadline:
                return None
            return at + min(self.backoff * 2 ** max(failures - 1, 0), self.interval)
        if at <= deadline:
            return min(at + self.interval, deadline + timedelta(seconds=1))
        return None


class Verifier:
    def __init__(
        self,
        registry: Registry,
        store: VerifierStore,
        checker: Checker,
        publish: Publish,
        *,
        pages_base_url: str = "",
        timing: Timing | None = None,
        concurrency: int = 200,
        poll_seconds: float = 1.0,
    ) -> None:
        self.registry = registry
        self.store = store
        self.checker = checker
        self.publish = publish
        self.pages_base_url = pages_base_url.rstrip("/")
        self.timing = timing or Timing()
        self.poll_seconds = poll_seconds
        self.slots = asyncio.Semaphore(concurrency)
        self.concurrency = concurrency
        self.in_flight: set[Key] = set()
        #: the keys of the running re-check still to be checked, its node and start
        self.recheck_pending: set[Key] = set()
        self.recheck_of: tuple[str, datetime] | None = None
        self.checked = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._to_record: list[
            tuple[Recorded, datetime | None, asyncio.Future[PublicationChecked]]
        ] = []
        self._flusher: asyncio.Task[None] | None = None
        #: columns in flight when a site below declared: due again after their check
        self._refresh_after: set[Key] = set()

    # ------------------------------------------------------------ consumers

    async def on_accepted(self, batch: Sequence[Envelope[A]]) -> None:
        """Each accepted version's receipt, hash, figures and identifiers, due now (a target
        with no declared URL is not checked: the check loop is not even woken for it)."""
        now = datetime.now(UTC)
        await self.store.upsert_many(
            [
                (
                    (watched_kind(e.event.form), e.event.code, e.event.year),
                    {**target_values(e.event), "next_check_at": now},
                )
                for e in batch
            ]
        )

    async def on_declared(self, batch: list[Envelope[PublicationDeclared]]) -> None:
        await self.store.upsert_many(
            [
                (
                    (e.event.kind, e.event.code, e.event.year),
                    {"url": e.event.url, "declared_at": e.event.at, "next_check_at": e.event.at},
                )
                for e in batch
            ]
        )
        await self.refresh_columns(
            {(e.event.code, e.event.year) for e in batch if e.event.kind == "report"}
        )

    async def refresh_columns(self, sites: set[tuple[str, int]]) -> None:
        """The 专栏 of every node above these sites is checked again (its coverage reads the
        sites' declared URLs) within ``column_settle``, unless due sooner; a column being
        checked right now is marked again once its check is recorded."""
        keys = {
            ("column", node, year)
            for code, year in sites
            if code in self.registry.sites
            for node in self.registry.site_ancestors(code)
        }
        if not keys:
            return
        settle = datetime.now(UTC) + self.timing.column_settle
        await self.store.mark_due(sorted(keys), settle, earlier_stays=True)
        self._refresh_after |= keys & self.in_flight

    # ------------------------------------------------------------ re-check on request

    async def recheck(self, year: int, node: str) -> dict[str, Any]:
        """Mark every publication of the node's subtree due now, unless a re-check runs."""
        if self.recheck_pending and self.recheck_of is not None:
            running, since = self.recheck_of
            return {"started": False, "running": running, "since": since.isoformat()}
        if node not in self.registry.nodes:
            return {"started": False, "running": None, "since": None, "error": "unknown node"}
        codes = set(self.registry.sites_under(node, year)) | set(self.registry.descendants(node))
        keys = [
            (w.kind, w.code, w.year)
            for w in await self.store.all_watched(year)
            if w.code in codes and w.url is not None
        ]
        now = datetime.now(UTC)
        await self.store.mark_due(keys, now)
        self.recheck_pending = set(keys)
        self.recheck_of = (node, now)
        return {"started": True, "node": node, "year": year, "queued": len(keys)}

    # ------------------------------------------------------------ the check loop

    async def republish(self) -> int:
        """Publish checks recorded but not confirmed before a crash (same id: deduplicated)."""
        rows = await self.store.unpublished()
        for row in rows:
            watched = await self.store.watched(row.kind, row.code, row.year)
            await self._publish(row, watched.first_verified_at if watched else None)
        return len(rows)

    async def run_forever(self) -> None:
        """Start due checks; then sleep until the next one is due or the targets change (a
        report accepted, a declaration, a re-check, a check recorded)."""
        while True:
            self.store.changed.clear()  # a change from here on wakes the wait below
            try:
                await self.run_due()
                pause = await self._pause()
            except Exception:
                log.exception("the check loop failed; trying again")
                pause = self.poll_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.store.changed.wait(), pause)

    async def _pause(self) -> float:
        """Seconds until the next check is due (at most MAX_PAUSE_SECONDS); ``poll_seconds``
        while one is due but not started (no free slot, or still in flight)."""
        due_at = await self.store.next_due_at()
        if due_at is None:
            return MAX_PAUSE_SECONDS
        until = (due_at - datetime.now(UTC)).total_seconds()
        return min(until, MAX_PAUSE_SECONDS) if until > 0 else self.poll_seconds

    async def run_due(self) -> int:
        """Start the checks that are due (as many as there are free slots)."""
        free = self.concurrency - len(self.in_flight)
        if free <= 0:
            return 0
        due = await self.store.due(datetime.now(UTC), free + len(self.in_flight))
        started = 0
        for watched in due:
            key = (watched.kind, watched.code, watched.year)
            if key in self.in_flight:
                continue
            self.in_flight.add(key)
            task = asyncio.create_task(self._check(watched, key))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started += 1
        return started

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _check(self, watched: Watched, key: Key) -> None:
        try:
            async with self.slots:
                await self.check_now(watched)
        except Exception:
            log.exception("check of %s failed", key, extra={"code": watched.code})
        finally:
            self.in_flight.discard(key)
            self.recheck_pending.discard(key)
            if key in self._refresh_after:
                self._refresh_after.discard(key)
                settle = datetime.now(UTC) + self.timing.column_settle
                await self.store.mark_due([key], settle, earlier_stays=True)

    async def check_now(self, watched: Watched) -> PublicationChecked:
        target = await self.target(watched)
        outcome = await self.checker.check(target)
        return await self._record(watched, outcome)

    async def _record(self, watched: Watched, outcome: Outcome) -> PublicationChecked:
        at = datetime.now(UTC)
        failures = watched.failures + 1 if outcome.state == "unreachable" else 0
        first = watched.first_verified_at
        if outcome.state == "verified" and first is None:
            first = at
        check = CheckRow(
            check_id=uuid.uuid4().hex,
            kind=watched.kind,
            code=watched.code,
            year=watched.year,
            url=str(watched.url),
            state=outcome.state,
            checked_at=at,
            findings=[f.model_dump() for f in outcome.findings],
            link_text=outcome.link_text,
            link_position=outcome.link_position,
            coverage=list(outcome.coverage) if outcome.coverage else None,
        )
        fetches = [
            FetchRow(
                fetch_id=uuid.uuid4().hex,
                check_id=check.check_id,
                url=f.url,
                final_url=f.final_url,
                status=f.status,
                fetched_at=f.fetched_at,
                seconds=round(f.seconds, 3),
                size=f.size,
                sha256=f.sha256,
                charset=f.charset,
                error=f.error,
                truncated=f.truncated,
                redirects=f.redirects,
                copy_gz=compressed_copy(f.body) if f.body else None,
            )
            for f in outcome.fetches
        ]
        target = {
            "state": outcome.state,
            "checked_at": at,
            "first_verified_at": first,
            "failures": failures,
            "next_check_at": self.timing.next_check(watched.year, outcome.state, failures, at),
        }
        item = Recorded((watched.kind, watched.code, watched.year), check, fetches, target)
        done: asyncio.Future[PublicationChecked] = asyncio.get_running_loop().create_future()
        self._to_record.append((item, first, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_later())
        event = await done
        self.checked += 1
        return event

    async def _flush_later(self) -> None:
        """Store the checks of the last moment in one transaction, then publish their events,
        then mark them published (an event is published only for a stored check)."""
        await asyncio.sleep(RECORD_LINGER_SECONDS)
        while self._to_record:
            batch, self._to_record = self._to_record, []
            try:
                await self.store.record([item for item, _first, _done in batch])
                events = [self._event(item.check, first) for item, first, _done in batch]
                for event in events:
                    await self.publish(event)
                await self.store.mark_published([e.check_id for e in events])
            except Exception as exc:
                for _item, _first, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for (_item, _first, done), event in zip(batch, events, strict=True):
                if not done.done():
                    done.set_result(event)

    async def _publish(self, check: CheckRow, first: datetime | None) -> PublicationChecked:
        event = self._event(check, first)
        await self.publish(event)
        await self.store.mark_published([check.check_id])
        return event

    def _event(self, check: CheckRow, first: datetime | None) -> PublicationChecked:
        return PublicationChecked(
            check_id=check.check_id,
            kind=check.kind,
            code=check.code,
            year=check.year,
            url=check.url,
            state=check.state,
            checked_at=check.checked_at,
            first_verified_at=first,
            findings=check.findings,
            link_text=check.link_text,
            link_position=check.link_position,
            coverage=tuple(check.coverage) if check.coverage else None,
        )

    # ------------------------------------------------------------ what to check

    def portal_homepage(self, node: str) -> str | None:
        """The homepage of the office's portal: its node's portal (or department) site."""
        sites = [self.registry.sites[c] for c in self.registry.direct_sites(node)]
        wanted = SiteType.PORTAL if node[:2] != "bm" else SiteType.DEPARTMENT
        chosen = next((s for s in sites if s.type == wanted), sites[0] if sites else None)
        return chosen.homepage_url if chosen else None

    async def target(self, watched: Watched) -> Target:
        assert watched.url is not None
        site = self.registry.sites.get(watched.code)
        homepage = site.homepage_url if site else self.portal_homepage(watched.code)
        column_sites: tuple[tuple[str, tuple[str, ...]], ...] = ()
        if watched.kind == "column":
            declared = {
                w.code: w.url
                for w in await self.store.all_watched(watched.year)
                if w.kind == "report" and w.url
            }
            column_sites = tuple(
                (code, self._report_urls(code, watched.year, declared.get(code)))
                for code in self.registry.sites_under(watched.code, watched.year)
            )
        return Target(
            kind=watched.kind,
            code=watched.code,
            year=watched.year,
            url=watched.url,
            homepage_url=homepage,
            receipt_id=watched.receipt_id,
            content_hash=watched.content_hash,
            figures=dict(watched.figures or {}),
            identifiers=dict(watched.identifiers or {}),
            column_sites=column_sites,
        )

    def _report_urls(self, code: str, year: int, declared: str | None) -> tuple[str, ...]:
        urls = [declared] if declared else []
        if self.pages_base_url:
            urls.append(f"{self.pages_base_url}/sites/{year}/{code}/index.html")
            urls.append(f"{self.pages_base_url}/sites/{year}/{code}/")
        return tuple(urls)
