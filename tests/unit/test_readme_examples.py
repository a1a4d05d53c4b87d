"""The README's examples run as printed and give the figures their comments show."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def _block(first_line: str) -> str:
    text = README.read_text()
    start = text.index(first_line)
    return text[text.rindex("```python", 0, start) + len("```python") : text.index("```", start)]


def test_the_tasks_example_runs_and_prints_its_comments():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(_block("# binary (the default): the seed API as it was"), {})
    multiclass, regression = out.getvalue().splitlines()
    assert "'accuracy': 0.5" in multiclass and "'macro_f1': 0.333" in multiclass
    assert "'mae': 6.75" in regression and "'rmse': 8.25" in regression


def test_the_mixed_data_example_runs_and_prints_its_comments():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(_block('reference = pd.DataFrame(\n    {\n        "price"'), {})
    drifted, missing = out.getvalue().splitlines()
    assert drifted == "['color']"
    assert missing.startswith("{'price': 0.01, 'color': 0.0")
