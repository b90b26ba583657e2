"""The thermodynamics scenario's chart (SPEC 5.6, 9.4): work distributions and ΔF, live.

Top: the distributions of the work done so far on the forward trajectories, P_F(W), and on the
reverse ones drawn as P_R(−W), on shared bins; they move as K is switched and end crossing at
ΔF (Crooks). The exact ΔF (lateral-free trees) and, once the switch is over, BAR's estimate are
vertical lines. Bottom: once the switch is over, the Jarzynski (both ways) and BAR estimates
from the first n trajectories against n, beside the exact ΔF and thermodynamic integration.
The subtitle gives K now and, at the end, every estimate with its standard error.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from analysis.free_energy import running_estimates
from analysis.thermo_outputs import histogram_data, thermo_estimates

from . import layout
from .session import Session
from .views import Option, View, base_option, header_px, line, value_axis, xy

FORWARD, REVERSE, EXACT, BAR, TI = "#1f77b4", "#d62728", "#111111", "#2ca02c", "#9467bd"


class ThermoView(View):
    """Work histograms P_F(W) and P_R(−W) as the switch runs; ΔF exact and estimated (SPEC 5.6)."""

    key = "thermo_work"
    label = "Work distributions and ΔF"
    height = 500

    @staticmethod
    def relevant(session: Session) -> bool:
        return getattr(session.model, "thermo", None) is not None

    def _subtitle(self) -> str:
        th = self.model.thermo
        if th is None:
            return "this chart belongs to the thermodynamics scenario (thermo.enabled = true)"
        info = th.info()
        exact = info["delta_F_exact"]
        ex = f"ΔF exact {exact:.3f}" if exact is not None else "no exact ΔF (loops): compare with TI"
        if th.burn_in and th.ticks <= th.burn_in:
            now = f"burn-in {th.ticks} of {th.burn_in} ticks"
        elif th.ticks == 0:
            now = f"in equilibrium at K = {th.forward_K[0]:g}, press play to switch"
        else:
            K = th.forward_K[info["switch_step"]]
            now = f"forward K = {K:.3g} (step {info['switch_step']} of {info['switch_ticks']})"
        head = f"{th.M} trajectories each way · T = {th.T:g} · {now} · {ex}"
        if not th.done:
            return head + "\nestimates appear when the switch is over"
        e = thermo_estimates(self.model)
        parts = [
            f"Jarzynski F {e['delta_F_jarzynski_forward']:.3f} ± {e['delta_F_jarzynski_forward_se']:.3f}",
            f"R {e['delta_F_jarzynski_reverse']:.3f} ± {e['delta_F_jarzynski_reverse_se']:.3f}",
            f"BAR {e['delta_F_bar']:.3f} ± {e['delta_F_bar_se']:.3f}",
            f"TI {e['delta_F_ti']:.3f} ± {e['delta_F_ti_se']:.3f}",
            f"⟨W_F⟩ − ΔF = {e['dissipated_work']:.3f}",
        ]
        return head + "\n" + " · ".join(parts)

    def option(self) -> Option:
        opt = base_option("Work distributions: Jarzynski and Crooks", self._subtitle())
        names = ["P_F(W) forward", "P_R(−W) reverse", "ΔF exact", "BAR", "Jarzynski forward"]
        names += ["Jarzynski reverse", "BAR (first n)", "TI"]
        opt["legend"][0]["data"] = names
        top = header_px(opt)
        usable = self.height - top - 50 - 40
        h1 = round(usable * 0.55)
        opt["grid"] = [
            {"left": layout.GRID_LEFT, "right": 40, "top": round(top), "height": h1},
            {"left": layout.GRID_LEFT, "right": 40, "top": round(top + h1 + 50), "bottom": 40},
        ]
        opt["xAxis"] = [
            value_axis(0, "work W", nameGap=26),
            {**value_axis(1, "trajectories used (each way)", nameGap=26), "type": "log", "scale": False},
        ]
        opt["yAxis"] = [value_axis(0, "density", min=0, nameGap=44, scale=False), value_axis(1, "ΔF", nameGap=52)]
        hist = {"type": "line", "step": "middle", "symbol": "none", "xAxisIndex": 0, "yAxisIndex": 0}
        opt["series"] = [
            {**hist, "name": names[0], "lineStyle": {"color": FORWARD}, "itemStyle": {"color": FORWARD}}
            | {"areaStyle": {"opacity": 0.3, "color": FORWARD}, "data": np.empty((0, 2))},
            {**hist, "name": names[1], "lineStyle": {"color": REVERSE}, "itemStyle": {"color": REVERSE}}
            | {"areaStyle": {"opacity": 0.3, "color": REVERSE}, "data": np.empty((0, 2))},
            {**line(names[2], EXACT, 0, 2.5), "_noghost": True},
            {**line(names[3], BAR, 0, 2, "dashed"), "_noghost": True},
            line(names[4], FORWARD, 1, 2),
            line(names[5], REVERSE, 1, 2),
            line(names[6], BAR, 1, 2.5),
            line(names[7], TI, 1, 1.5, "dashed"),
            {**line("exact", EXACT, 1, 2), "_noghost": True},
        ]
        return self._with_data(opt)

    def _series(self) -> Option:
        th = self.model.thermo
        if th is None:
            return {"series": [{"data": np.empty((0, 2))} for _ in range(9)]}
        hist = histogram_data(th.work_forward, th.work_reverse)
        peak = float(max(hist["forward"].max(), hist["reverse"].max(), 1e-12))
        exact = th.delta_F_exact
        vertical = (lambda x: np.array([[x, 0.0], [x, 1.05 * peak]])) if peak else None
        series: list[dict[str, Any]] = [
            {"data": xy(hist["centres"], hist["forward"])},
            {"data": xy(hist["centres"], hist["reverse"])},
            {"data": vertical(exact) if exact is not None and th.done else np.empty((0, 2))},
        ]
        empty = [{"data": np.empty((0, 2))} for _ in range(6)]
        if not th.done:
            out: Option = {"series": series + empty}
            out["title"] = [{"subtext": self._subtitle()}]
            return out
        e = thermo_estimates(self.model)
        series.append({"data": vertical(e["delta_F_bar"])})
        run = running_estimates(th.work_forward, th.work_reverse, th.T)
        n = np.asarray(run["n"], dtype=float)
        ends = np.array([n[0], n[-1]]) if n.size else np.empty(0)
        series += [
            {"data": xy(n, np.asarray(run["jarzynski_forward"]))},
            {"data": xy(n, np.asarray(run["jarzynski_reverse"]))},
            {"data": xy(n, np.asarray(run["bar"]))},
            {"data": xy(ends, np.full(ends.size, e["delta_F_ti"]))},
            {"data": xy(ends, np.full(ends.size, exact)) if exact is not None else np.empty((0, 2))},
        ]
        return {"series": series, "title": [{"subtext": self._subtitle()}]}
