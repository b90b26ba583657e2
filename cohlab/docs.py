"""Generate the README's parameter reference and CSV column dictionary from the code.

``python -m cohlab.docs`` rewrites the marked blocks of README.md; a test checks they are
current, so the README cannot drift from the code.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from model.keys import parameter_table
from model.recorder import NODES_DOCS, SCALES_DOCS, TIMESERIES_DOCS

README = Path(__file__).resolve().parents[1] / "README.md"


def render_parameters() -> str:
    lines = ["| key | default | meaning |", "|---|---|---|"]
    for row in parameter_table():
        d = row["default"]
        value = f"{d:.6g}" if isinstance(d, float) else json.dumps(d)
        lines.append(f"| `{row['key']}` | {value} | {row['doc']} |")
    return "\n".join(lines)


def render_columns() -> str:
    parts = []
    for name, docs in (("timeseries.csv", TIMESERIES_DOCS), ("scales.csv", SCALES_DOCS), ("nodes.csv", NODES_DOCS)):
        parts.append(f"**{name}**\n\n| column | meaning |\n|---|---|")
        parts.extend(f"| `{col}` | {text} |" for col, text in docs.items())
        parts.append("")
    return "\n".join(parts).rstrip()


BLOCKS = {"parameters": render_parameters, "columns": render_columns}


def update(text: str) -> str:
    """Replace every ``<!-- BEGIN name -->…<!-- END name -->`` block with its rendering."""
    for name, render in BLOCKS.items():
        pattern = re.compile(rf"(<!-- BEGIN {name} -->\n)(?:.*?\n)?(<!-- END {name} -->)", re.S)
        text = pattern.sub(lambda m, r=render: m.group(1) + r() + "\n" + m.group(2), text)
    return text


if __name__ == "__main__":
    new = update(README.read_text(encoding="utf-8"))
    if "--check" in sys.argv:
        sys.exit(0 if new == README.read_text(encoding="utf-8") else 1)
    README.write_text(new, encoding="utf-8")
