"""Numbers too long for Python to read (over 4,300 digits): kept as a marker the models refuse."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

#: Python refuses to convert longer digit strings to int (CVE-2020-10735)
MAX_DIGITS = sys.get_int_max_str_digits() or 4300

#: the pydantic error type of an oversized number, and its messages
OVERSIZED_NUMBER = "oversized_number"
OVERSIZED_ZH = "数值过大（超过{max_digits}位）"
OVERSIZED_EN = "the number has more than {max_digits} digits"


@dataclass(frozen=True)
class OversizedNumber:
    """An integer literal of more than MAX_DIGITS digits, as the JSON or the cell spelled it;
    neither an int nor a str, so every model refuses it at its field."""

    digits: int

    def __repr__(self) -> str:
        return f"<a number of {self.digits} digits>"


def json_int(literal: str) -> int | OversizedNumber:
    """``json.loads(..., parse_int=json_int)``: an int, or the marker when it is too long."""
    digits = len(literal.lstrip("+-"))
    return OversizedNumber(digits) if digits > MAX_DIGITS else int(literal)


def is_oversized(value: Any) -> bool:
    return isinstance(value, OversizedNumber)
