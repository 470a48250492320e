"""The badge and snippet a site or office puts on its homepage, linking to its published page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.filings import Status

#: the badge's message and tone per status (tone names a colour in render.py)
BADGE_MESSAGES: dict[str, tuple[str, str]] = {
    "on_time": ("已发布 按时", "ok"),
    "late": ("已发布 逾期", "warn"),
    "returned": ("退回重填", "alert"),
    "rejected": ("未通过校验", "alert"),
    "missing": ("未报送", "muted"),
}
BADGE_HEIGHT = 24
BADGE_FONT_SIZE = 13
BADGE_PADDING = 8


def text_width(text: str, size: int = BADGE_FONT_SIZE) -> int:
    """An estimate of a text's width: CJK characters are square, Latin ones about 0.6 em."""
    wide = sum(1 for ch in text if ord(ch) > 0x2E7F)
    return round(wide * size + (len(text) - wide) * size * 0.6)


@dataclass(frozen=True)
class Badge:
    """An image badge: a label, a message coloured by its tone, and the sentence it stands for."""

    label: str
    message: str
    tone: str
    title: str

    @property
    def label_width(self) -> int:
        return text_width(self.label) + 2 * BADGE_PADDING

    @property
    def message_width(self) -> int:
        return text_width(self.message) + 2 * BADGE_PADDING

    @property
    def width(self) -> int:
        return self.label_width + self.message_width

    @property
    def height(self) -> int:
        return BADGE_HEIGHT


def make_badge(label: str, status: Status, subject: str) -> Badge:
    message, tone = BADGE_MESSAGES.get(status, (status, "muted"))
    return Badge(label, message, tone, f"{subject}{label}：{message}")


def absolute_url(base_url: str, relative: str) -> str:
    """A published path as a URL to paste elsewhere (kept relative when no base URL is known)."""
    return f"{base_url.rstrip('/')}/{relative}" if base_url else relative


@dataclass(frozen=True)
class Embed:
    """What a site or office puts in a prominent place on its homepage, linking to its page."""

    page_url: str
    badge_url: str
    badge_src: str
    badge: Badge
    link_text: str

    @property
    def image_snippet(self) -> str:
        return (
            f'<a href="{_attr(self.page_url)}" target="_blank" title="{_attr(self.link_text)}">'
            f'<img src="{_attr(self.badge_url)}" alt="{_attr(self.link_text)}" '
            f'width="{self.badge.width}" height="{self.badge.height}"></a>'
        )

    @property
    def text_snippet(self) -> str:
        return f'<a href="{_attr(self.page_url)}" target="_blank">{_attr(self.link_text)}</a>'

    def as_json(self) -> dict[str, Any]:
        return {
            "page_url": self.page_url,
            "badge_url": self.badge_url,
            "image_snippet": self.image_snippet,
            "text_snippet": self.text_snippet,
        }


def _attr(text: str) -> str:
    """Escape text for an HTML attribute or element of a snippet people paste."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def make_embed(base_url: str, page: str, badge_path: str, badge: Badge, link_text: str) -> Embed:
    return Embed(
        page_url=absolute_url(base_url, page),
        badge_url=absolute_url(base_url, badge_path),
        badge_src=badge_path.rsplit("/", 1)[-1],
        badge=badge,
        link_text=link_text,
    )
