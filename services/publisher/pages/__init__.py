"""Page planning, pure (no I/O, no clock): each page kind's ``plan_*`` gives its ``*PageData``."""

from __future__ import annotations

from services.publisher.pages.column import ColumnPageData, plan_column_page
from services.publisher.pages.index import IndexData, plan_index
from services.publisher.pages.paths import PageRef, affected_pages, has_supervision_page
from services.publisher.pages.records import ReviewRecord, SiteRow, VersionRecord
from services.publisher.pages.rollup import RollupPageData, plan_rollup_page
from services.publisher.pages.site import SitePageData, plan_site_page
from services.publisher.pages.supervision import SupervisionPageData, plan_supervision_page

__all__ = [
    "ColumnPageData",
    "IndexData",
    "PageRef",
    "ReviewRecord",
    "RollupPageData",
    "SitePageData",
    "SiteRow",
    "SupervisionPageData",
    "VersionRecord",
    "affected_pages",
    "has_supervision_page",
    "plan_column_page",
    "plan_index",
    "plan_rollup_page",
    "plan_site_page",
    "plan_supervision_page",
]
