"""Text a database and a page can hold: no C0 controls, lone surrogates or bidi overrides."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, StringConstraints
from pydantic_core import PydanticCustomError

#: C0 controls but tab, newline and carriage return (PostgreSQL refuses NUL in text and JSONB;
#: the others corrupt pages and logs), lone surrogates (not encodable as UTF-8), and the bidi
#: embeddings, overrides and isolates (they reorder what a page shows: "Trojan Source")
UNSAFE_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
#: the same as a pattern pydantic-core checks (in Rust, for models validated in bulk, such as
#: a registry's 100,000 sites); a lone surrogate fails it as "string_unicode"
SAFE_PATTERN = "^[^\x00-\x08\x0b\x0c\x0e-\x1f\u202a-\u202e\u2066-\u2069]*$"

#: the pydantic error type of unsafe text, and its messages
UNSAFE_TEXT = "unsafe_text"
UNSAFE_ZH = (
    "含有不允许的字符（{char}，第{position}个字符）：不能使用控制字符、孤立代理项或双向文本控制符"
)
UNSAFE_EN = (
    "contains {char} at character {position}: control characters, lone surrogates and "
    "bidi overrides are not allowed"
)


def first_unsafe(text: str) -> tuple[str, int] | None:
    """The first unsafe character of ``text`` as ``U+XXXX`` and its 1-based position, or None."""
    found = UNSAFE_RE.search(text)
    if found is None:
        return None
    return f"U+{ord(found.group()):04X}", found.start() + 1


def refuse_unsafe(value: Any) -> Any:
    """A pydantic before-validator: a string with an unsafe character is refused (before any
    trimming, which would silently drop some of them); anything else passes on unchanged."""
    if isinstance(value, str):
        unsafe = first_unsafe(value)
        if unsafe is not None:
            char, position = unsafe
            raise PydanticCustomError(UNSAFE_TEXT, UNSAFE_EN, {"char": char, "position": position})
    return value


#: a str that refuses unsafe characters (put further constraints beside it in Annotated)
SafeStr = Annotated[str, BeforeValidator(refuse_unsafe)]


#: a str refusing unsafe characters through SAFE_PATTERN: as cheap as a plain str, with
#: pydantic's own error types (``string_pattern_mismatch``, ``string_unicode``)
SafePlainStr = Annotated[str, StringConstraints(pattern=SAFE_PATTERN)]


def is_unsafe_error(error_type: str, ctx: dict[str, Any] | None) -> bool:
    """Whether a pydantic error is SafePlainStr's refusal."""
    if error_type == "string_unicode":
        return True
    return error_type == "string_pattern_mismatch" and (ctx or {}).get("pattern") == SAFE_PATTERN
