"""Announcements: a receipt's published event, sent once its page is on disk, never stranded."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from pydantic import BaseModel

from services.publisher.dirty import page_ref
from services.publisher.store import Announcement, PublisherStore
from shared.contracts import PagesPublished, published_subject

Publish = Callable[[Sequence[tuple[str, BaseModel, str]]], Awaitable[None]]


class Announcer:
    """Sends the published events of receipts whose pages were rendered, then forgets them."""

    def __init__(self, store: PublisherStore, publish: Publish, base_url: str) -> None:
        self.store = store
        self.publish = publish
        self.base_url = base_url
        #: an announcement may have been left behind (at start, or after a failed publish)
        self.maybe_stranded = True

    async def announce_stranded(self) -> None:
        """Rendered, but the published event was never sent (a failed publish, or a crash
        between the render and the announcement): announce before anything else."""
        if self.maybe_stranded:
            await self.announce(await self.store.stranded_announcements())
            self.maybe_stranded = False

    async def announce(self, due: Sequence[Announcement]) -> None:
        if not due:
            return
        now = datetime.now(UTC)
        events = [self.published(item, now) for item in due]
        try:
            await self.publish(events)
        except BaseException:
            self.maybe_stranded = True  # the pages are clean: the next pass announces them
            raise
        await self.store.forget_announcements([item.receipt_id for item in due])

    def published(self, item: Announcement, now: datetime) -> tuple[str, BaseModel, str]:
        """(subject, event, message id) of one receipt's published event."""
        paths = page_ref(item.key).paths
        urls = [f"{self.base_url}/{p}" for p in (paths.html, paths.json, paths.csv)]
        event = PagesPublished(
            receipt_id=item.receipt_id,
            code=item.code,
            year=item.year,
            published_at=now,
            urls=urls,
        )
        return published_subject(item.code), event, f"published:{item.receipt_id}"
