"""What reading an upload may cost (unpacked bytes, XML elements, time), checked before parsing."""

from __future__ import annotations

import io
import time
import zipfile
from typing import IO
from xml.etree.ElementTree import Element, tostring
from xml.parsers.expat import ParserCreate

from defusedxml.ElementTree import fromstring

from shared.excel.layout import WorkbookError
from shared.numbers import MAX_DIGITS

#: an uploaded workbook may not unpack to more than this (zip bombs)
MAX_UNPACKED_BYTES = 16 * 2**20
MAX_PARTS = 200
#: XML elements in all of a workbook's parts: a downloaded template has about 3,000 (5,000 with
#: 100 rows per table); a sheet dense with cells (4 MiB of them zip to 21 KB) has millions
MAX_ELEMENTS = 30_000
#: how long reading one upload may take, start to end
MAX_SECONDS = 5.0
#: how often (in elements) the count looks at the clock
_CLOCK_EVERY = 2_000


def too_costly(zh: str, en: str) -> WorkbookError:
    return WorkbookError(
        "too_large", f"Excel 文件过大或过于复杂：{zh}", f"the workbook is too large: {en}"
    )


class Budget:
    """The time one upload's reading may take; ``check`` raises once it is spent."""

    def __init__(self, seconds: float = MAX_SECONDS, elements: int = MAX_ELEMENTS) -> None:
        self.seconds = seconds
        self.elements = elements
        self.deadline = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise too_costly(
                f"读取超过 {self.seconds:g} 秒", f"reading took more than {self.seconds:g} s"
            )


def check_archive(data: bytes, budget: Budget) -> set[str]:
    """Refuse, before openpyxl sees it, a zip that is no xlsx, unpacks to too much, or holds
    more XML elements than the budget (counted as a stream, stopping at the first over it;
    DTDs and entities are refused). Returns the parts holding a number cell of more than
    MAX_DIGITS digits (openpyxl cannot read those: see ``numbers_as_text``)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        parts = archive.infolist()
    except (zipfile.BadZipFile, ValueError) as exc:
        raise WorkbookError(
            "unreadable", "文件不是有效的 Excel（.xlsx）文件", f"not an xlsx (zip) file: {exc}"
        ) from exc
    if len(parts) > MAX_PARTS or sum(p.file_size for p in parts) > MAX_UNPACKED_BYTES:
        raise WorkbookError(
            "unreadable",
            "Excel 文件解压后过大",
            f"the workbook unpacks to more than {MAX_UNPACKED_BYTES} bytes or {MAX_PARTS} parts",
        )
    counter = _Counter(budget)
    with archive:
        for part in parts:
            if not part.filename.endswith((".xml", ".rels")):
                continue
            try:
                with archive.open(part) as stream:
                    counter.read(part.filename, stream)
            except WorkbookError:
                raise
            except Exception as exc:  # bad XML, a DTD, a lying zip header, a bad CRC
                raise WorkbookError(
                    "unreadable",
                    "无法读取该 Excel 文件（.xlsx）",
                    f"not a readable xlsx file: {part.filename}: {exc}",
                ) from exc
    return counter.oversized


class _Counter:
    """Counts the elements of XML parts as they stream through expat (no tree is built), and
    notes the parts holding a number cell too long for Python."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.count = 0
        self.oversized: set[str] = set()
        self._number_cell = False
        self._value_length: int | None = None

    def read(self, name: str, stream: IO[bytes]) -> None:
        parser = ParserCreate(namespace_separator="}")
        parser.StartDoctypeDeclHandler = _no_dtd
        parser.EntityDeclHandler = _no_dtd
        parser.StartElementHandler = self._start
        parser.CharacterDataHandler = self._text
        parser.EndElementHandler = self._end
        self._part = name
        while chunk := stream.read(_CHUNK):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)

    def _start(self, tag: str, attributes: dict[str, str]) -> None:
        self.count += 1
        if self.count > self.budget.elements:
            raise too_costly(
                f"超过 {self.budget.elements} 个 XML 元素（单元格过多）",
                f"more than {self.budget.elements} XML elements (too many cells)",
            )
        if self.count % _CLOCK_EVERY == 0:
            self.budget.check()
        if tag == _CELL:
            self._number_cell = attributes.get("t", "n") == "n"
        elif tag == _VALUE and self._number_cell:
            self._value_length = 0

    def _text(self, text: str) -> None:
        if self._value_length is not None:
            self._value_length += len(text)

    def _end(self, tag: str) -> None:
        if tag == _VALUE and self._value_length is not None:
            if self._value_length > MAX_DIGITS:
                self.oversized.add(self._part)
            self._value_length = None


def _no_dtd(*_args: object) -> None:
    raise ValueError("DTDs and entity declarations are not allowed")


_CHUNK = 64 * 1024
_SHEET_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
#: a cell and its value as expat names them (namespace}local)
_CELL, _VALUE = f"{_SHEET_NS[1:]}c", f"{_SHEET_NS[1:]}v"


def _oversized_number(cell: Element) -> bool:
    """A number cell (no type, or "n") whose value has more than MAX_DIGITS characters."""
    if cell.tag != f"{_SHEET_NS}c" or cell.get("t", "n") != "n":
        return False
    value = cell.find(f"{_SHEET_NS}v")
    return value is not None and len(value.text or "") > MAX_DIGITS


def numbers_as_text(data: bytes, parts: set[str]) -> bytes:
    """The workbook with each number cell too long for Python in these parts typed as text,
    so that it reaches its field as the digits it holds and is refused there, naming the
    field and the cell (openpyxl would fail on the whole workbook)."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            body = source.read(info)
            if info.filename in parts:
                root = fromstring(body, forbid_dtd=True)
                for cell in root.iter(f"{_SHEET_NS}c"):
                    if _oversized_number(cell):
                        cell.set("t", "str")
                body = tostring(root, encoding="utf-8", xml_declaration=True)
            target.writestr(info, body)
    return out.getvalue()
