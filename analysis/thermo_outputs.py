"""Outputs of the thermodynamics experiment (SPEC 5.6): summary ``thermo.*``, ``work.csv``, plots.

``summary.json`` gets exactly the SPEC's keys under ``thermo``: ``delta_F_exact`` (null with
loops), ``delta_F_jarzynski_forward`` / ``_reverse``, ``delta_F_bar``, ``delta_F_ti``, each
with its bootstrap ``_se``, ``mean_work_forward`` / ``_reverse``, ``dissipated_work``
(⟨W_F⟩ − ΔF, with the exact ΔF where it exists, else BAR's), ``crooks_slope`` and
``crooks_crossing``. A run that stopped before the switch ended has null estimates.
``work.csv`` has one row per trajectory: ``direction`` (forward | reverse), ``trajectory``
(0 …), ``work``. The plot is in :mod:`analysis.thermo_plots` (matplotlib loads only for plots).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .free_energy import estimates
from .metric_registry import metric

if TYPE_CHECKING:
    from model.model import CoherenceModel

SPAWN_KEY = 6  # the bootstrap's stream (the experiment's own is 5)
KEYS = (
    "delta_F_exact",
    "delta_F_jarzynski_forward",
    "delta_F_jarzynski_forward_se",
    "delta_F_jarzynski_reverse",
    "delta_F_jarzynski_reverse_se",
    "delta_F_bar",
    "delta_F_bar_se",
    "delta_F_ti",
    "delta_F_ti_se",
    "mean_work_forward",
    "mean_work_reverse",
    "dissipated_work",
    "crooks_slope",
    "crooks_crossing",
)


def thermo_estimates(model: CoherenceModel) -> dict[str, Any]:
    """The summary's ``thermo`` block, computed once per finished experiment (cached on it)."""
    th = model.thermo
    if th is None:
        return {}
    cached = th.__dict__.get("_estimates")
    if cached is not None:
        return cached
    if not th.done:
        return {k: (th.delta_F_exact if k == "delta_F_exact" else None) for k in KEYS}
    rng = np.random.default_rng(np.random.SeedSequence(model.seed, spawn_key=(SPAWN_KEY,)))
    est = estimates(th.work_forward, th.work_reverse, th.ti_samples(), th.K_weights, th.T, th.delta_F_exact, rng=rng)
    out = {k: est[k] for k in KEYS}
    th.__dict__["_estimates"] = out
    return out


@metric("thermo")
def thermo_metric(model: CoherenceModel) -> dict[str, Any]:
    """SPEC 5.6's ``thermo.*`` summary keys (see the module docstring)."""
    return thermo_estimates(model)


def work_frame(model: CoherenceModel) -> pd.DataFrame:
    """One row per trajectory: direction, trajectory, work (empty without the experiment)."""
    th = model.thermo
    if th is None:
        return pd.DataFrame(columns=["direction", "trajectory", "work"])
    m = th.M
    return pd.DataFrame(
        {
            "direction": ["forward"] * m + ["reverse"] * m,
            "trajectory": np.concatenate([np.arange(m), np.arange(m)]),
            "work": th.work,
        }
    )


def histogram_data(w_forward: np.ndarray, w_reverse: np.ndarray, bins: int = 40) -> dict[str, np.ndarray]:
    """Shared bins for P_F(W) and P_R(−W) (densities), as the plots and the app draw them."""
    wf, wr = np.asarray(w_forward, float), -np.asarray(w_reverse, float)
    lo, hi = min(wf.min(), wr.min()), max(wf.max(), wr.max())
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    return {
        "edges": edges,
        "centres": 0.5 * (edges[1:] + edges[:-1]),
        "forward": np.histogram(wf, edges, density=True)[0],
        "reverse": np.histogram(wr, edges, density=True)[0],
    }
