"""The README's parameter reference and column dictionary are generated from the code and current."""

from __future__ import annotations

from cohlab.docs import README, update
from model.keys import parameter_keys
from model.recorder import NODES_COLUMNS, SCALES_COLUMNS, TIMESERIES_COLUMNS, TIMESERIES_DOCS


def test_readme_blocks_are_current() -> None:
    text = README.read_text(encoding="utf-8")
    assert update(text) == text, "run `python -m cohlab.docs` to regenerate the README blocks"


def test_every_parameter_and_column_is_documented() -> None:
    text = README.read_text(encoding="utf-8")
    for key in parameter_keys():
        assert f"`{key}`" in text
    documented = set(TIMESERIES_DOCS)
    for col in TIMESERIES_COLUMNS:
        generic = col.rsplit("_", 1)[0] + "_<type>"
        assert col in documented or generic in documented, col
    for col in SCALES_COLUMNS + NODES_COLUMNS:
        assert f"`{col}`" in text


def test_readme_starts_with_the_two_setup_commands() -> None:
    text = README.read_text(encoding="utf-8")
    block = text.split("```bash", 1)[1].split("```", 1)[0].strip().splitlines()
    assert [line.split("#")[0].strip() for line in block] == ["./dev.sh app", "./dev.sh test"]
