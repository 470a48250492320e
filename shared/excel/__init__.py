"""Excel templates of a form: build a workbook from its definition, read a filled one back.

The visible sheet is laid out like the official form: title, one block per section with the
Chinese labels and units, one value column (a column per quarter for quarterly sections), a
multi-choice as one 是/否 row per option, a records field as a small table of empty rows. Value
cells carry data validation (non-negative integers, 是/否 and option drop-downs, dates, text
lengths); everything else is locked. A very hidden sheet ``_nianbao`` records the form, its version
and the cell of every field path, so reading never depends on labels or positions guessed from
the layout. Reading gives the report as raw wire JSON (the validation is the wire model's, as for
JSON) and, per field path, the cells it came from, for error messages that point at cells.
"""

from shared.excel.layout import (
    LAYOUT_VERSION,
    META_SHEET,
    NO,
    XLSX_MEDIA_TYPE,
    YES,
    Slot,
    WorkbookError,
    sheet_title,
)
from shared.excel.reading import MAX_PARTS, MAX_UNPACKED_BYTES, FilledWorkbook, read_workbook
from shared.excel.template import RECORDS_ROWS, build_template

__all__ = [
    "LAYOUT_VERSION",
    "MAX_PARTS",
    "MAX_UNPACKED_BYTES",
    "META_SHEET",
    "NO",
    "RECORDS_ROWS",
    "XLSX_MEDIA_TYPE",
    "YES",
    "FilledWorkbook",
    "Slot",
    "WorkbookError",
    "build_template",
    "read_workbook",
    "sheet_title",
]
