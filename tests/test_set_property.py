"""Property: no ``--set`` value over the whole parameter table makes ``cohlab run`` trace back (SPEC 10).

Hypothesis draws one to three assignments per run: any key of the parameter table, with a
value in its range, at or beyond its bounds, of the wrong kind (text, true/false, lists,
tables), or not a number at all. Every outcome must be either a finished run directory or one
clean message with a non-zero exit and nothing written. Graph sizes stay small (a big valid
graph would be built for real); the memory check is exercised with sizes that cannot fit.
"""

from __future__ import annotations

import math
import shutil
import typing
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cohlab.cli import main
from model.keys import parameter_keys
from model.params import Params

KEYS = parameter_keys()
BASE = ["--set", "graph.depth=2", "--set", "graph.lateral_k=1"]  # 13 nodes; drawn values come later and win
# sizes that would build a big (valid) graph are replaced by small ones or by ones that cannot fit
SIZES = {
    "graph.depth": [0, 1, 3, -1, 31, 30, 2.5],
    "graph.branching": [1, 2, 4, 0, 65, 64],
    "graph.n_nodes": [0, 1, 2, 50, -5, 20_000_001],
    "environment.categories": [2, 7, 1, 1001],
    "patterns.size": [2, 4, 13, 1, 10_001],
    "patterns.count": [0, 1, 2, -1, 1001],
}
OUTCOMES: Counter[str] = Counter()


def _bounds(key: str) -> tuple[Any, Any, Any]:
    section, field = key.split(".")
    info = type(getattr(Params(), section)).model_fields[field]
    lo = hi = None
    for meta in info.metadata:
        for name in ("ge", "gt"):
            lo = getattr(meta, name, None) if getattr(meta, name, None) is not None else lo
        for name in ("le", "lt"):
            hi = getattr(meta, name, None) if getattr(meta, name, None) is not None else hi
    return info.annotation, lo, hi


def _near_bounds(key: str) -> list[Any]:
    """Values at, inside and just beyond the key's range, and its other choices."""
    if key in SIZES:
        return SIZES[key]
    kind, lo, hi = _bounds(key)
    if typing.get_origin(kind) is typing.Literal:
        return [*typing.get_args(kind), "other"]
    out: list[Any] = []
    for b in (lo, hi):
        if b is not None:
            out += [b, b - 1e-9 if kind is float else b - 1, b + 1e-9 if kind is float else b + 1]
    if lo is not None and hi is not None:
        out.append((lo + hi) / 2 if kind is float else (lo + hi) // 2)
    return out or [0, 1, -1]


def _text(value: Any) -> str:
    """How a user would type the value after ``key=`` (TOML: true, 0.5, "text", [1, 2], {a = 1})."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return str(value)


WRONG = st.sampled_from(
    ["yes", "no", "on", "", "0.5", '"0.5"', "[1, 2]", "{}", "{memory = 0.5}", "{0 = 'task'}", "1e400", "nan", "x=y"]
)
VALUE = st.one_of(
    st.booleans().map(_text),
    st.integers(-(10**12), 10**12).map(_text),
    st.floats(allow_nan=True, allow_infinity=True).map(_text),
    WRONG,
)


@st.composite
def assignment(draw: st.DrawFn) -> str:
    key = draw(st.sampled_from(KEYS))
    near = [_text(v) for v in _near_bounds(key)]
    value = draw(st.one_of(st.sampled_from(near), VALUE) if key not in SIZES else st.sampled_from(near))
    return f"{key}={value}"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("set-property")


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sets=st.lists(assignment(), min_size=1, max_size=3))
def test_no_set_value_makes_the_run_trace_back(sandbox: Path, sets: list[str]) -> None:
    out = sandbox / "run"
    shutil.rmtree(out, ignore_errors=True)  # the previous example's run directory
    args = ["run", "forgetting_curves", "--ticks", "3", "--quiet", "--out", str(out), *BASE]
    for s in sets:
        args += ["--set", s]
    res = CliRunner().invoke(main, args)
    assert res.exc_info is None or res.exc_info[0] is SystemExit, f"{sets}: traceback {res.exc_info}"
    assert "Traceback" not in res.output and "Warning" not in res.output, res.output
    if res.exit_code == 0:
        OUTCOMES["ran"] += 1
        assert (out / "summary.json").is_file()
    else:
        OUTCOMES["refused"] += 1
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert lines and len(res.output) < 800 and "error" in res.output.lower(), res.output
        assert not out.exists(), "a refused run wrote something"
    assert [p.name for p in sandbox.iterdir() if p.name != "run"] == [], "leftovers beside the run directory"
