"""Seed 000 part 6 (Jarzynski, Crooks) against the ``thermodynamics`` scenario's estimates (SPEC 5.6).

``cohlab run thermodynamics --seed 0 --out runs/thermo && cohlab analyze runs/thermo`` turns the
run's ``summary.json`` block ``thermo`` (the estimates of ΔF with their bootstrap standard
errors, the mean works and the Crooks fit) into two claims rows, judged by SPEC 5.6's
must-hold tolerances:

- 000-jarzynski: ⟨e^(−W/T)⟩ = e^(−ΔF/T). Every estimate (Jarzynski forward and reverse, BAR,
  thermodynamic integration) within max(3 s.e., 3 % of |ΔF|, 0.05·T) of the exact ΔF, and the
  second law ⟨W_F⟩ ≥ ΔF.
- 000-crooks: P_F(W)/P_R(−W) = e^((W − ΔF)/T): the fitted slope of ln[P_F(W)/P_R(−W)] against W
  within 10 % of 1/T. (The seed writes it as P(C → C′)/P(C′ → C) = e^(ΔF/kT), which is not the
  theorem; the narrative of the scenario says where it differs.)

Without an exact ΔF (graphs with loops) the rows are "not testable" here, with the reason.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .claims import Claim

ESTIMATES = ("jarzynski_forward", "jarzynski_reverse", "bar", "ti")
COMMAND = "cohlab run thermodynamics --seed 0 --out runs/thermo && cohlab analyze runs/thermo"


def tolerance(se: float, delta_F: float, T: float) -> float:
    """SPEC 5.6: max(3 s.e., 3 % of |ΔF|, 0.05·T)."""
    return max(3 * (se if math.isfinite(se) else 0.0), 0.03 * abs(delta_F), 0.05 * T)


def verdict_jarzynski(errors: dict[str, tuple[float, float]], dissipated: float) -> str:
    """Pure function: ``errors`` maps each estimate to (|estimate − exact|, its tolerance).

    "confirmed" if every estimate is within its tolerance and the dissipated work ⟨W_F⟩ − ΔF ≥ 0;
    "refuted" if none is; "partly" otherwise.
    """
    within = [abs_err <= tol for abs_err, tol in errors.values()]
    if within and all(within) and dissipated >= 0:
        return "confirmed"
    return "refuted" if not any(within) else "partly"


def verdict_crooks(slope: float, T: float) -> str:
    """Pure function: the Crooks slope within 10 % of 1/T ("confirmed"), within 30 % ("partly"), else refuted."""
    if not math.isfinite(slope):
        return "refuted"
    rel = abs(slope * T - 1)
    return "confirmed" if rel <= 0.10 else "partly" if rel <= 0.30 else "refuted"


def _temperature(directory: Path) -> float:
    params = json.loads((Path(directory) / "params.json").read_text(encoding="utf-8"))["params"]
    return float(params["phase"]["T"] if "phase" in params else params["phase.T"])


def claims(directory: Path) -> list[Claim]:
    """000-jarzynski and 000-crooks from a thermodynamics run directory (none from a sweep directory)."""
    summary = Path(directory) / "summary.json"
    if not summary.is_file():  # a sweep (spec.json, runs.csv): its analysis is analysis/thermo_analysis.py
        return []
    s: dict[str, Any] = json.loads(summary.read_text(encoding="utf-8")).get("thermo") or {}
    if not s:
        return []
    T = _temperature(directory)
    exact = s.get("delta_F_exact")
    quote_j = "⟨exp(-W/kT)⟩ = exp(-ΔF/kT) [Jarzynski equality, on the coherence (phase) system]"
    quote_c = "P(C → C') / P(C' → C) = exp(ΔF_coh/kT) [Crooks fluctuation theorem]"
    if exact is None:
        why = "this run's graph has loops: no exact ΔF to compare with (run the default lateral-free tree)"
        return [
            Claim("000-jarzynski", "000", quote_j, "not testable", "", COMMAND, why),
            Claim("000-crooks", "000", quote_c, "not testable", "", COMMAND, why),
        ]
    errors = {}
    parts = []
    for name in ESTIMATES:
        est, se = s.get(f"delta_F_{name}"), s.get(f"delta_F_{name}_se")
        if est is None:
            continue
        se = float(se) if se is not None else math.nan
        errors[name] = (abs(float(est) - exact), tolerance(se, exact, T))
        parts.append(f"{name} {float(est):.4g} ± {se:.2g} s.e.")
    dissipated = float(s.get("dissipated_work", math.nan))
    slope = float(s.get("crooks_slope") if s.get("crooks_slope") is not None else math.nan)
    crossing = s.get("crooks_crossing")
    return [
        Claim(
            id="000-jarzynski",
            source="000",
            claim=quote_j,
            verdict=verdict_jarzynski(errors, dissipated),
            numbers=(
                f"exact ΔF {exact:.4g} (T = {T:g}); " + ", ".join(parts) + f"; every estimate within its tolerance "
                f"max(3 s.e., 3 % |ΔF|, 0.05·T): {sum(e <= t for e, t in errors.values())}/{len(errors)}; "
                f"dissipated work ⟨W_F⟩ − ΔF {dissipated:.4g} (second law: ≥ 0)"
            ),
            command=COMMAND,
        ),
        Claim(
            id="000-crooks",
            source="000",
            claim=quote_c,
            verdict=verdict_crooks(slope, T),
            numbers=(
                f"slope of ln[P_F(W)/P_R(−W)] against W {slope:.4g} vs 1/T = {1 / T:.4g} "
                f"({abs(slope * T - 1):.1%} off; SPEC 5.6: 10 %); histograms cross at W = "
                f"{float(crossing):.4g} vs ΔF {exact:.4g}"
                if crossing is not None
                else f"slope {slope:.4g} vs 1/T = {1 / T:.4g}"
            ),
            command=COMMAND,
        ),
    ]
