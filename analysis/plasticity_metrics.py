"""summary.json metrics of the stability–plasticity experiment (SPEC 6, seed 001).

``acquisition_A`` (mean recall F1 of the A patterns right after A is learned), ``retention_A``
(the same after B is learned), ``acquisition_B`` (B's at the end), ``forgetting`` =
acquisition_A − retention_A, and the chance levels: ``chance`` (all patterns tested in the
untrained weights, SPEC 6's definition, with ``chance_A`` and ``chance_B``) and
``chance_random`` (the expected F1 of k nodes drawn at random outside the cue, k/(N − |cue|),
averaged over the patterns). ``complete`` is False when the run stopped before the schedule's
end (then the missing metrics are null). Recall over time is not in the summary (it would
become hundreds of sweep columns): it is the ``recall.test`` events of events.jsonl and
``model.plasticity.history``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .metric_registry import metric

if TYPE_CHECKING:
    from model.model import CoherenceModel


@metric("stability_plasticity")
def stability_plasticity(model: CoherenceModel) -> dict[str, Any]:
    """The experiment's results (see the module docstring)."""
    exp = getattr(model, "plasticity", None)
    if exp is None or not exp.active:
        return {"complete": False, "note": "no patterns (patterns.count = 0): the experiment did not run"}
    out = exp.summary()
    out.pop("defenses", None)  # the flags are parameters (params.json, the sweep's columns), not results
    n = model.graph.n
    out["chance_random"] = float(np.mean([p.response.size / (n - p.cue.size) for p in exp.patterns]))
    return out


def recall_frame(model: CoherenceModel) -> pd.DataFrame:
    """Recall quality over time, one row per test: tick, label, mean F1 of A and of B, and per pattern."""
    exp = getattr(model, "plasticity", None)
    if exp is None or not exp.active:
        return pd.DataFrame(columns=["tick", "time", "label", "A", "B"])
    rows = [{k: v for k, v in r.items() if k != "scores"} | r["scores"] for r in exp.history]
    return pd.DataFrame(rows)


def dream_frame(model: CoherenceModel) -> pd.DataFrame:
    """One row per sleep of the dream loop: tick, start, generated, kept, replayed, mean score."""
    cols = ["tick", "start", "generated", "kept", "replayed", "mean_score"]
    return pd.DataFrame([{k: e.get(k) for k in cols} for e in model.events.of("dream.cycle")], columns=cols)
