"""The templates print like the forms: LibreOffice Calc (headless) converts them to A4 pages."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from shared.excel import build_template
from shared.forms import load_form
from tests.support.debian import require_packages
from tests.support.excel import FORMS, clean_report

PACKAGES = ("libreoffice-calc-nogui", "fonts-noto-cjk")
A4 = (595, 842)
#: the label of the form's first column and a header of its last one, per form
FIRST_AND_LAST = {
    "work-report": ("类别", "关注量或下载量"),
    "supervision-report": ("类别", "填写说明"),
}


@pytest.fixture(scope="module")
def soffice() -> str:
    require_packages(PACKAGES, "printing the templates with LibreOffice")
    return "soffice"


def _print(soffice: str, xlsx: bytes, tmp: Path) -> list[str]:
    """Convert a workbook to PDF as an office would print it; the text of each page."""
    pypdf = pytest.importorskip("pypdf")
    source = tmp / "template.xlsx"
    source.write_bytes(xlsx)
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{tmp / 'profile'}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp),
            str(source),
        ],
        capture_output=True,
        timeout=180,
        check=True,
    )
    reader = pypdf.PdfReader(tmp / "template.pdf")
    for page in reader.pages:
        size = (round(float(page.mediabox.width)), round(float(page.mediabox.height)))
        assert size == A4, f"a page is {size} points, not A4 portrait"
    return [page.extract_text() for page in reader.pages]


@pytest.mark.parametrize("form", FORMS)
def test_the_filled_form_prints_on_a4_portrait_title_first_all_columns_on_one_width(
    soffice: str, form: str, tmp_path: Path
) -> None:
    defn = load_form(form)
    pages = _print(soffice, build_template(defn, clean_report(form)), tmp_path)
    heading = f"{defn.title} 填报说明"
    form_pages = [text for text in pages if heading not in text and "序号" not in text]
    instruction_pages = pages[len(form_pages) :]
    assert 1 <= len(form_pages) <= 2, f"the form spreads over {len(form_pages)} pages"
    first = form_pages[0]
    assert first.index(defn.title) < first.index("类别"), "the title does not come first"
    assert "请只在黄色单元格中填写" in first, "the guidance line is cut off"
    left, right = FIRST_AND_LAST[form]
    for text in form_pages:
        # the repeated header row: the first and the last column on every page
        assert left in text and right in text and "填报值" in text
    filler = clean_report(form)["signoff"]["filler"]
    assert filler in "".join(form_pages)
    assert instruction_pages and heading in instruction_pages[0]
    assert all("序号" in text and "说明" in text for text in instruction_pages)


def test_the_instructions_sheet_prints_every_instruction_whole(
    soffice: str, tmp_path: Path
) -> None:
    defn = load_form("work-report")
    pages = _print(soffice, build_template(defn), tmp_path)
    printed = "".join(text.replace("\n", "") for text in pages)
    assert "同一用户每日多次访问不重复计算，只计一次。" in printed
    assert "聚合相关信息和服务。" in printed
    assert len(pages) <= 4
