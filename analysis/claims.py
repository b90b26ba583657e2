"""The source documents' claims and the simulation's verdicts (the README's claims table).

A *claim* is one testable (or untestable) statement of a seed document with the verdict the
runs give it. ``cohlab analyze DIR`` writes ``DIR/claims.json`` — a JSON list of rows — for
every sweep or run directory whose scenario has a claims analyzer (:data:`ANALYZERS`)::

    {"id": "001-P1", "source": "001", "claim": "<a short quotation from the seed>",
     "verdict": "confirmed" | "refuted" | "partly" | "not testable",
     "numbers": "<the key numbers with their 95 % CI>",
     "command": "<the one command line that reproduces it>",
     "why": "<one line: why not testable; empty otherwise>"}

Each analyzer computes the numbers from the runs and its verdict with a *pure function of
those numbers* (unit-tested with hand-made numbers beside the experiment's module); nothing
is assumed or hard-coded.

The README section "What the source documents claim, and what the simulation says" is
generated from the small ``claims.json`` files kept in ``docs/claims/`` (one per experiment,
copied there from the analysed directories), between the markers :data:`BEGIN` and
:data:`END`; a test checks that the README equals what this module generates from them::

    python -m analysis.claims collect DIR [DIR ...]   # validate DIR/claims.json, copy into docs/claims/
    python -m analysis.claims readme                  # regenerate the README section
    python -m analysis.claims readme --check          # exit 1 if the README section is stale

Every file is validated before anything is written; a bad row names the file, the row and the
field, and nothing changes.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from scipy import stats

FILE = "claims.json"
VERDICTS = ("confirmed", "refuted", "partly", "not testable")
SOURCES = {
    "000": "coherence backpropagation",
    "001": "the stability–plasticity solution",
    "002": "the fractal persistence law",
    "003": "energy and weight decay",
}
ROOT = Path(__file__).resolve().parent.parent
STORE = ROOT / "docs" / "claims"
README = ROOT / "README.md"
BEGIN = "<!-- BEGIN claims -->"  # the section is generated: `python -m analysis.claims readme`
END = "<!-- END claims -->"
MAX_CLAIM = 240  # characters of the quotation: a short quotation, not a paragraph
MAX_FIELD = 600
_ID = re.compile(r"^(\d{3})-[A-Za-z0-9][A-Za-z0-9._-]*$")

# Scenario name → "module:function" returning the claims of an analysed sweep or run directory
# (the function receives the directory and decides from its files what it can say).
ANALYZERS: dict[str, str] = {
    "stability_plasticity": "analysis.ablation:claims",
    "survival_boundary": "analysis.survival:claims",
    "learning_rate": "analysis.lr_safety:claims",
    "generalization": "analysis.generalization:claims",
    "forgetting_curves": "analysis.decay_claims:forgetting_claims",
    "consolidation": "analysis.decay_claims:consolidation_claims",
    "criticality": "analysis.decay_claims:controller_claims",
    "coherence_tree": "analysis.gamma_conditions:claims",
    "error_propagation": "analysis.error_propagation:claims",
    "landscape_memory": "analysis.landscape:claims",
    "coherence_backprop": "analysis.seed_table:claims",
    "thermodynamics": "analysis.thermo_claims:claims",
}


class ClaimError(ValueError):
    """A claim row or a claims file is not valid."""


@dataclass(frozen=True)
class Claim:
    """One row of the claims table (see the module docstring); validated on construction."""

    id: str
    source: str
    claim: str
    verdict: str
    numbers: str
    command: str
    why: str = ""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, str):
                raise ClaimError(f"claim '{self.id}': field '{f.name}' must be a string, got {type(value).__name__}")
            if "\n" in value or "\r" in value:
                raise ClaimError(f"claim '{self.id}': field '{f.name}' must be one line")
            if len(value) > MAX_FIELD:
                raise ClaimError(
                    f"claim '{self.id}': field '{f.name}' is {len(value)} characters (at most {MAX_FIELD})"
                )
        m = _ID.match(self.id)
        if not m:
            raise ClaimError(
                f"claim id '{self.id}' must look like '001-P1' (source, '-', a name of letters/digits/.-_)"
            )
        if self.source not in SOURCES:
            raise ClaimError(f"claim '{self.id}': source '{self.source}' is not one of {', '.join(SOURCES)}")
        if m.group(1) != self.source:
            raise ClaimError(f"claim '{self.id}': the id must start with its source '{self.source}'")
        if not self.claim.strip():
            raise ClaimError(f"claim '{self.id}': the quotation ('claim') is empty")
        if len(self.claim) > MAX_CLAIM:
            raise ClaimError(f"claim '{self.id}': the quotation is {len(self.claim)} characters (at most {MAX_CLAIM})")
        if self.verdict not in VERDICTS:
            raise ClaimError(f"claim '{self.id}': verdict '{self.verdict}' is not one of {', '.join(VERDICTS)}")
        if self.verdict == "not testable":
            if not self.why.strip():
                raise ClaimError(f"claim '{self.id}': a 'not testable' row must say why (field 'why')")
        else:
            if self.why.strip():
                raise ClaimError(f"claim '{self.id}': 'why' is only for 'not testable' rows (verdict '{self.verdict}')")
            if not self.numbers.strip() or not self.command.strip():
                raise ClaimError(f"claim '{self.id}': a '{self.verdict}' row needs its numbers and its command")

    @classmethod
    def from_dict(cls, row: object, where: str = "") -> Claim:
        """A claim from one JSON object; unknown or missing keys are errors."""
        names = [f.name for f in fields(cls)]
        if not isinstance(row, dict):
            raise ClaimError(f"{where}: a claim must be a JSON object, got {type(row).__name__}")
        unknown = sorted(set(row) - set(names))
        missing = [k for k in names if k not in row]
        if unknown or missing:
            raise ClaimError(
                f"{where}: claim keys must be exactly {', '.join(names)}"
                + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                + (f"; missing: {', '.join(missing)}" if missing else "")
            )
        try:
            return cls(**row)
        except ClaimError as exc:
            raise ClaimError(f"{where}: {exc}") from None


def check_unique(claims: Sequence[Claim], where: str = "") -> None:
    seen: set[str] = set()
    for c in claims:
        if c.id in seen:
            raise ClaimError(f"{where}: claim id '{c.id}' appears twice")
        seen.add(c.id)


def dumps(claims: Sequence[Claim]) -> str:
    """The canonical text of a claims file (same claims, same bytes)."""
    return json.dumps([asdict(c) for c in claims], indent=2, ensure_ascii=False) + "\n"


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_claims(directory: Path, claims: Sequence[Claim]) -> Path:
    """Validate and write ``directory/claims.json`` atomically; return its path."""
    claims = list(claims)
    if not claims:
        raise ClaimError(f"no claims to write into '{directory}'")
    check_unique(claims, str(directory))
    path = Path(directory) / FILE
    _atomic_write(path, dumps(claims))
    return path


def read_claims(path: Path) -> list[Claim]:
    """Read and validate a claims file (a JSON list of claim objects)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ClaimError(f"'{path}' does not exist (run `cohlab analyze` on the directory first)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ClaimError(f"'{path}' is not a readable JSON file: {exc}") from None
    if not isinstance(data, list) or not data:
        raise ClaimError(f"'{path}' must hold a non-empty JSON list of claims")
    claims = [Claim.from_dict(row, f"'{path}' row {i}") for i, row in enumerate(data)]
    check_unique(claims, f"'{path}'")
    return claims


# ---------------------------------------------------------------- analysers (cohlab analyze)


def scenario_of(directory: Path) -> str | None:
    """The scenario a sweep (spec.json) or run (params.json) directory was made from."""
    for name in ("spec.json", "params.json"):
        p = Path(directory) / name
        if p.is_file():
            try:
                return json.loads(p.read_text(encoding="utf-8")).get("scenario")
            except (OSError, json.JSONDecodeError):
                return None
    return None


def claims_for(directory: Path) -> list[Claim]:
    """The claims the scenario's analyzer finds in ``directory`` (empty when it has none)."""
    scenario = scenario_of(directory)
    target = ANALYZERS.get(Path(str(scenario)).stem if scenario else "")
    if target is None:
        return []
    module, func = target.split(":")
    return list(getattr(importlib.import_module(module), func)(Path(directory)))


def write_for(directory: Path) -> Path | None:
    """Write ``directory/claims.json`` when the directory's scenario has claims; return its path."""
    claims = claims_for(directory)
    return write_claims(directory, claims) if claims else None


# ---------------------------------------------------------------- files and statistics shared by analysers


def save_tables(directory: Path, **tables: object) -> Path:
    """Write each table as DIR/analysis/<name>.csv (6 significant digits, LF line ends); return the folder."""
    dest = Path(directory) / "analysis"
    dest.mkdir(exist_ok=True)
    for name, table in tables.items():
        table.to_csv(dest / f"{name}.csv", index=False, float_format="%.6g", lineterminator="\n")  # type: ignore[attr-defined]
    return dest


def save_figure(fig: object, path: Path) -> Path:
    """Lay out, save (110 dpi) and close a matplotlib figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()  # type: ignore[attr-defined]
    fig.savefig(path, dpi=110)  # type: ignore[attr-defined]
    plt.close(fig)
    return Path(path)


@dataclass(frozen=True)
class Estimate:
    """A mean with the half-width of its 95 % Student-t interval (NaN half-width below two values)."""

    mean: float
    ci95: float
    n: int

    @property
    def lo(self) -> float:
        return self.mean - self.ci95

    @property
    def hi(self) -> float:
        return self.mean + self.ci95

    def text(self, digits: int = 3, signed: bool = False) -> str:
        fmt = f"{{:{'+' if signed else ''}.{digits}f}}"
        if math.isnan(self.ci95):
            return fmt.format(self.mean)
        return f"{fmt.format(self.mean)} ± {self.ci95:.{digits}f}"


def estimate(values: Iterable[float]) -> Estimate:
    """Mean and 95 % Student-t half-width of the finite values."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if x.size == 0:
        return Estimate(math.nan, math.nan, 0)
    if x.size < 2:
        return Estimate(float(x.mean()), math.nan, 1)
    half = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return Estimate(float(x.mean()), half, int(x.size))


def paired(a: Sequence[float], b: Sequence[float]) -> Estimate:
    """Mean and 95 % interval of the paired differences a − b (same seeds, same order)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in length: {a.size} and {b.size}")
    return estimate(a - b)


def direction(e: Estimate) -> int:
    """+1 if the interval lies above 0, −1 if below, 0 if it contains 0 (or is undefined)."""
    if math.isnan(e.ci95) or math.isnan(e.mean):
        return 0
    return 1 if e.lo > 0 else -1 if e.hi < 0 else 0


# ---------------------------------------------------------------- the README section


def load_store(store: Path = STORE) -> list[Claim]:
    """Every claim kept in ``store`` (all ``*.json``), validated, ids unique across files."""
    files = sorted(Path(store).glob("*.json"))
    if not files:
        raise ClaimError(f"no claims files in '{store}'")
    claims = [c for f in files for c in read_claims(f)]
    check_unique(claims, str(store))
    return sorted(claims, key=_order)


def _order(c: Claim) -> tuple:
    rest = c.id.split("-", 1)[1]
    return (c.source, [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", rest) if t])


def _cell(text: str) -> str:
    return text.replace("|", "\\|").strip()


def render(claims: Sequence[Claim]) -> str:
    """The README section's body: one table per seed, one row per claim."""
    counts = {v: sum(c.verdict == v for c in claims) for v in VERDICTS}
    lines = ["Verdicts: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + f" ({len(claims)} claims)."]
    for source, title in SOURCES.items():
        rows = [c for c in claims if c.source == source]
        if not rows:
            continue
        lines += ["", f"**Seed {source} ({title})**", ""]
        lines += ["| id | claim | verdict | key numbers | command |", "|---|---|---|---|---|"]
        for c in rows:
            numbers = (
                c.numbers if c.verdict != "not testable" else f"*{c.why}*" + (f" {c.numbers}" if c.numbers else "")
            )
            command = f"`{c.command}`" if c.command else "–"
            lines.append(f"| {c.id} | *“{_cell(c.claim)}”* | **{c.verdict}** | {_cell(numbers)} | {_cell(command)} |")
    return "\n".join(lines) + "\n"


def splice(text: str, body: str) -> str:
    """``text`` with everything between the markers replaced by ``body``."""
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise ClaimError("the README must hold the claims markers exactly once, begin before end")
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    return f"{head}{BEGIN}\n{body}{END}{tail}"


def section(text: str) -> str:
    """The text between the markers (what :func:`render` must reproduce)."""
    splice(text, "")  # checks the markers
    return text.split(BEGIN, 1)[1].split(END, 1)[0].removeprefix("\n")


def collect(directories: Sequence[Path], store: Path = STORE) -> list[Path]:
    """Validate each ``DIR/claims.json`` and copy it to ``store/<scenario>.json`` (all or nothing)."""
    staged: dict[Path, str] = {}
    for d in directories:
        claims = read_claims(Path(d) / FILE)
        scenario = scenario_of(d)
        if not scenario:
            raise ClaimError(f"'{d}' is neither a sweep nor a run directory (spec.json or params.json expected)")
        target = Path(store) / f"{Path(scenario).stem}.json"
        if target in staged:
            raise ClaimError(f"two directories of scenario '{scenario}' given; keep one")
        staged[target] = dumps(claims)
    merged = [c for text in staged.values() for c in (Claim.from_dict(r) for r in json.loads(text))]
    others = [c for f in sorted(Path(store).glob("*.json")) if f not in staged for c in read_claims(f)]
    check_unique(merged + others, str(store))
    for target, text in staged.items():
        _atomic_write(target, text)
    return list(staged)


def update_readme(readme: Path = README, store: Path = STORE, check: bool = False) -> bool:
    """Regenerate the README section; with ``check`` only compare. Return True if it was current."""
    text = Path(readme).read_text(encoding="utf-8")
    new = splice(text, render(load_store(store)))
    if new == text:
        return True
    if not check:
        _atomic_write(Path(readme), new)
    return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.claims", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect", help="copy analysed directories' claims.json into docs/claims/")
    c.add_argument("dirs", nargs="+", type=Path)
    r = sub.add_parser("readme", help="regenerate the README claims section from docs/claims/")
    r.add_argument("--check", action="store_true", help="only check; exit 1 if the section is stale")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "collect":
            for p in collect(args.dirs):
                print(f"wrote {p.relative_to(ROOT) if p.is_relative_to(ROOT) else p}")
            return 0
        current = update_readme(check=args.check)
    except ClaimError as exc:
        print(f"claims: error: {exc}", file=sys.stderr)
        return 2
    if args.check and not current:
        print("claims: the README section is stale: run `python -m analysis.claims readme`", file=sys.stderr)
        return 1
    print("README claims section is current" if current else "README claims section regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
