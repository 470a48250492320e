"""The special column's script (static/column.js) filters and sorts its table, run by node."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from services.publisher import render


@pytest.mark.parametrize(
    "smoke",
    [
        "column_js_smoke.js",  # one page: filters hide rows, headers sort rows
        "column_js_paged_smoke.js",  # page 2 of 3: the filter counts across the whole column
    ],
)
def test_column_script_filters_and_sorts_in_a_fake_dom(smoke: str) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    here = Path(__file__).parent
    script = Path(render.STATIC) / "column.js"
    result = subprocess.run(
        [node, str(here / smoke), str(script)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
