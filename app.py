"""Coherence Lab in the browser (Solara): pick a scenario, read its story, press play (SPEC 9.4).

Run with ``./dev.sh app`` or ``cohlab app``. Every browser session builds its own model: all
state lives in component hooks, never in module-level reactive variables.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import solara

from analysis.export import timeseries_frame, to_csv_bytes
from analysis.graph_views import aggregate_by_scale_and_subtree, radial_layout
from model import CoherenceModel, ParameterError
from model.params import NODE_TYPES, parameter_keys, parse_value, to_dotted
from model.recorder import TIMESERIES_COLUMNS
from scenarios.loader import NARRATIVE_SECTIONS, NARRATIVE_TITLES, list_scenarios, load_scenario

DEFAULT_SCENARIO = "criticality"
FULL_GRAPH_LIMIT = 2000  # draw every node up to this size; aggregate above
HISTORY = 1500  # ticks shown in the time plots
TYPE_COLOURS = {"default": "#555555", "memory": "#1f77b4", "task": "#d62728", "principle": "#2ca02c", "goal": "#9467bd"}
COMMON_KEYS = [
    "load.rate",
    "spread.alpha",
    "controller.enabled",
    "controller.rho_target",
    "learning.enabled",
    "decay.delta_E",
    "phase.T",
    "phase.K",
    "coherence.eta",
    "persistence.kappa",
    "persistence.survival",
]
FONT = {"size": 15}


def controls_for(scenario: str) -> list[str]:
    """The parameters shown as controls: the scenario's own settings first, then common ones."""
    sc = load_scenario(scenario)
    own = [k for k in to_dotted_scenario(sc) if k in set(parameter_keys())]
    keys = own + [k for k in COMMON_KEYS if k not in own]
    return [k for k in keys if not k.startswith(("graph.", "types.", "environment."))][:14]


def to_dotted_scenario(sc: Any) -> list[str]:
    from model.params import flatten

    return list(flatten(sc.params))


def build_model(scenario: str, seed: int, overrides: dict[str, Any]) -> CoherenceModel:
    return CoherenceModel(scenario, seed=seed, params=overrides)


# ----------------------------------------------------------------------------- figures


def _layout(fig: go.Figure, title: str, height: int = 360) -> go.Figure:
    fig.update_layout(
        title={"text": title, "font": {"size": 18}},
        height=height,
        margin={"l": 60, "r": 20, "t": 50, "b": 45},
        font=FONT,
        legend={"font": {"size": 13}},
        plot_bgcolor="white",
        uirevision="keep",
    )
    return fig


def recent_timeseries(model: CoherenceModel) -> pd.DataFrame:
    return pd.DataFrame(model.recorder.timeseries[-HISTORY:], columns=TIMESERIES_COLUMNS)


def graph_figure(model: CoherenceModel, layout: tuple[np.ndarray, np.ndarray]) -> go.Figure:
    """Every node at its radial position, coloured by R (diverging, centred at 1) and sized by E."""
    g, st = model.graph, model.state
    if g.n > FULL_GRAPH_LIMIT:
        return aggregate_figure(model)
    x, y = layout
    size = 6 + 14 * np.sqrt(np.clip(st.E / max(model.params.decay.E_max, 1e-9), 0, 1))
    types = np.array(NODE_TYPES)[st.node_type]
    custom = np.column_stack([np.arange(g.n), types, g.scale, st.E, st.R, st.C, np.where(st.alive, "", "dormant")])
    src, dst = g.edge_src, g.edge_dst
    tree = ~g.lateral & (src < dst)
    ex = np.column_stack([x[src[tree]], x[dst[tree]], np.full(tree.sum(), np.nan)]).ravel()
    ey = np.column_stack([y[src[tree]], y[dst[tree]], np.full(tree.sum(), np.nan)]).ravel()
    fig = go.Figure(
        [
            go.Scattergl(x=ex, y=ey, mode="lines", line={"color": "#cccccc", "width": 1}, hoverinfo="skip"),
            go.Scattergl(
                x=x,
                y=y,
                mode="markers",
                customdata=custom,
                hovertemplate="node %{customdata[0]}<br>type %{customdata[1]}<br>scale %{customdata[2]}"
                "<br>E %{customdata[3]:.3g}<br>R %{customdata[4]:.3g}<br>C %{customdata[5]:.3g}"
                "<br>%{customdata[6]}<extra></extra>",
                marker={
                    "size": size,
                    "color": np.where(st.alive, st.R, np.nan),
                    "colorscale": "RdBu_r",
                    "cmid": 1.0,
                    "cmin": 0.0,
                    "cmax": 2.0,
                    "colorbar": {"title": "R"},
                    "line": {"width": 0.5, "color": "#333"},
                },
            ),
        ]
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    fig.update_layout(showlegend=False)
    return _layout(fig, f"The fractal graph: colour = R (blue < 1 < red), size = E — tick {model.tick}", 560)


def aggregate_figure(model: CoherenceModel) -> go.Figure:
    """Large graphs: mean R per scale and top-level subtree."""
    mat, rows, cols = aggregate_by_scale_and_subtree(model.graph, model.state.R, model.state.alive)
    fig = go.Figure(
        go.Heatmap(
            z=mat,
            x=[f"subtree {c}" for c in cols],
            y=[f"scale {r}" for r in rows],
            colorscale="RdBu_r",
            zmid=1.0,
            colorbar={"title": "mean R"},
        )
    )
    return _layout(fig, f"Mean R per scale and subtree ({model.graph.n:,} nodes) — tick {model.tick}", 560)


def forgetting_figure(model: CoherenceModel, ts: pd.DataFrame, log: bool) -> go.Figure:
    fig = go.Figure()
    for t in NODE_TYPES:
        col = ts[f"E_mean_{t}"]
        if col.notna().any():
            fig.add_scatter(x=ts["time"], y=col, name=f"{t} (mean)", line={"color": TYPE_COLOURS[t], "width": 3})
    nodes = pd.DataFrame(model.recorder.nodes[-HISTORY * 12 :])
    if len(nodes):
        nodes.columns = ["tick", "time", "node", "type", "scale", "E", "w", "R", "C", "dkl", "pressure", "alive"]
        for node in sorted(nodes["node"].unique())[:12]:
            grp = nodes[nodes["node"] == node]
            colour = TYPE_COLOURS[grp["type"].iloc[0]]
            fig.add_scatter(x=grp["time"], y=grp["E"], name=f"node {node}", line={"color": colour, "dash": "dot"})
    fig.update_yaxes(type="log" if log else "linear", title="activation E")
    fig.update_xaxes(title="tick")
    return _layout(fig, "Forgetting curves: mean E per type and tracked nodes")


def rho_figure(model: CoherenceModel, ts: pd.DataFrame) -> go.Figure:
    target = model.params.controller.rho_target
    fig = go.Figure()
    fig.add_hrect(y0=target - 0.05, y1=target + 0.05, fillcolor="green", opacity=0.12, line_width=0)
    fig.add_hline(y=target + 0.2, line={"color": "red", "dash": "dash"}, annotation_text="runaway")
    fig.add_scatter(x=ts["time"], y=ts["rho"], name="ρ", line={"color": "black", "width": 2})
    fig.add_scatter(x=ts["time"], y=ts["delta_E"], name="δ_E", yaxis="y2", line={"color": "#1f77b4"})
    fig.update_layout(
        yaxis={"title": "spectral radius ρ"},
        yaxis2={"title": "δ_E", "overlaying": "y", "side": "right", "showgrid": False},
    )
    band = ts["band"].iloc[-1] if len(ts) else "—"
    return _layout(fig, f"Criticality: ρ (green band = critical) and δ_E — now {band}")


def coherence_figure(model: CoherenceModel) -> go.Figure:
    g, st = model.graph, model.state
    scales = list(range(g.n_scales))

    def mean(v: np.ndarray) -> list[float | None]:
        out = []
        for s in scales:
            sel = (g.scale == s) & st.alive
            out.append(float(v[sel].mean()) if sel.any() else None)
        return out

    fig = go.Figure()
    fig.add_bar(x=scales, y=mean(st.C), name="coherence C")
    fig.add_bar(x=scales, y=mean(st.gamma), name="gain γ")
    fig.add_bar(x=scales, y=mean(np.abs(st.lam)), name="|adjoint λ|")
    fig.add_bar(x=scales, y=mean(st.R), name="persistence R")
    fig.update_xaxes(title="scale (0 = leaves)")
    return _layout(fig, "Per scale: coherence, γ, adjoint, R")


def free_energy_figure(ts: pd.DataFrame) -> go.Figure:
    slow = ts.dropna(subset=["F_coh"])
    fig = go.Figure()
    for col in ("F_coh", "E_phase", "S_phase", "order", "err"):
        if slow[col].notna().any() if len(slow) else False:
            fig.add_scatter(x=slow["time"], y=slow[col], name=col)
    err = ts.dropna(subset=["err"])
    if not len(slow) and len(err):
        fig.add_scatter(x=err["time"], y=err["err"], name="coherence error")
    fig.update_xaxes(title="tick")
    return _layout(fig, "Coherence free energy F = E_phase − T·S_phase, order, error")


def histogram_figure(model: CoherenceModel) -> go.Figure:
    st, g = model.state, model.graph
    fig = go.Figure()
    for k, t in enumerate(NODE_TYPES):
        sel = st.node_type == k
        if sel.any():
            fig.add_histogram(x=st.E[sel], name=f"E {t}", marker_color=TYPE_COLOURS[t], opacity=0.6, nbinsx=40)
            w_sel = sel[g.edge_src]
            fig.add_histogram(
                x=st.W[w_sel], name=f"W {t}", marker_color=TYPE_COLOURS[t], opacity=0.3, nbinsx=40, xaxis="x2"
            )
    fig.update_layout(
        barmode="overlay",
        xaxis={"title": "activation E", "domain": [0, 0.47]},
        xaxis2={"title": "edge weight W", "domain": [0.53, 1]},
    )
    return _layout(fig, "Energy and weight histograms by type")


# ----------------------------------------------------------------------------- components


@solara.component
def Narrative(scenario: str) -> None:
    sc = load_scenario(scenario)
    solara.Markdown(f"## {sc.scenario.title}\n*{sc.scenario.source}*")
    with solara.Details("About this scenario — WHAT IT IS · HOW IT WORKS · HOW TO USE IT · … (click to read)"):
        for key in NARRATIVE_SECTIONS:
            text = getattr(sc.narrative, key).strip().replace("_", "\\_").replace("*", "\\*")
            solara.Markdown(f"**{NARRATIVE_TITLES[key]}**\n\n{text}")


@solara.component
def ParameterControls(scenario: str, model: CoherenceModel, on_apply: Any) -> None:
    """Text fields for the chosen parameters; values are validated before any model sees them."""
    keys = solara.use_memo(lambda: controls_for(scenario), dependencies=[scenario])
    current = to_dotted(model.params)
    texts, set_texts = solara.use_state({}, key=f"texts-{scenario}")
    extra, set_extra = solara.use_state("")
    message, set_message = solara.use_state("")

    def apply() -> None:
        overrides: dict[str, Any] = {}
        for key, text in texts.items():
            overrides[key] = parse_value(str(text))
        for item in [s for s in extra.split(";") if s.strip()]:
            key, sep, value = item.partition("=")
            if not sep:
                set_message(f"'{item.strip()}' is not key=value")
                return
            overrides[key.strip()] = parse_value(value.strip())
        try:
            load_scenario(scenario).resolve_params(overrides)
        except ParameterError as exc:
            set_message(str(exc))
            return
        set_message("")
        on_apply(overrides)

    with solara.Card("Parameters"):
        for key in keys:
            solara.InputText(
                key,
                value=str(texts.get(key, _show(current[key]))),
                on_value=lambda v, k=key: set_texts({**texts, k: v}),
                continuous_update=True,
            )
        with solara.Details("All parameters (key=value; separate several with ;)"):
            solara.InputText("more overrides", value=extra, on_value=set_extra, continuous_update=True)
            solara.Markdown(", ".join(f"`{k}`" for k in parameter_keys()))
        solara.Button("Apply and reset", on_click=apply, color="primary")
        if message:
            solara.Error(message)


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


@solara.component
def Page() -> None:
    scenario, set_scenario = solara.use_state(DEFAULT_SCENARIO)
    seed, set_seed = solara.use_state(1)
    overrides, set_overrides = solara.use_state({})
    resets, set_resets = solara.use_state(0)
    playing, set_playing = solara.use_state(False)
    speed, set_speed = solara.use_state(5)
    frame = solara.use_memo(lambda: solara.reactive(0), dependencies=[])  # per session: only Views redraws
    model = solara.use_memo(
        lambda: build_model(scenario, seed, overrides), dependencies=[scenario, seed, repr(overrides), resets]
    )
    layout = solara.use_memo(lambda: radial_layout(model.graph), dependencies=[model])
    lock = solara.use_memo(threading.Lock, dependencies=[])

    def play(cancel: threading.Event) -> None:
        while playing and not cancel.is_set():
            with lock:
                model.run(speed)
            frame.value += 1
            time.sleep(0.05)

    solara.use_thread(play, dependencies=[playing, model, speed], intrusive_cancel=False)

    def step() -> None:
        with lock:
            model.step()
        frame.value += 1

    def choose(name: str) -> None:
        set_playing(False)
        set_overrides({})
        set_scenario(name)

    solara.Title("Coherence Lab")
    with solara.Columns([1, 3]):
        with solara.Column():
            solara.Markdown("# Coherence Lab")
            solara.Select("Scenario", values=list_scenarios(), value=scenario, on_value=choose)
            solara.InputInt("Seed", value=seed, on_value=lambda s: (set_playing(False), set_seed(s)))
            with solara.Row():
                solara.Button("Step", on_click=step, disabled=playing)
                solara.Button(
                    "Pause" if playing else "Play", on_click=lambda: set_playing(not playing), color="primary"
                )
                solara.Button("Reset", on_click=lambda: (set_playing(False), set_resets(resets + 1)))
            solara.SliderInt("Speed (ticks per frame)", value=speed, min=1, max=50, on_value=set_speed)
            solara.FileDownload(
                lambda: to_csv_bytes(timeseries_frame(model)),
                filename=f"{scenario}_seed{seed}_timeseries.csv",
                label="Download run as CSV",
            )
            ParameterControls(
                scenario,
                model,
                on_apply=lambda o: (set_playing(False), set_overrides(o), set_resets(resets + 1)),
            )
        with solara.Column():
            Narrative(scenario)
            Views(model, layout, lock, frame)


@solara.component
def Views(model: CoherenceModel, layout: tuple[np.ndarray, np.ndarray], lock: Any, frame: solara.Reactive) -> None:
    """All plots; ``frame`` changes after every step, so only this component redraws."""
    solara.v.Html(tag="h3", children=[f"tick {model.tick} · {model.graph.n:,} nodes · ρ = {model.state.rho:.3f}"])
    _ = frame.value  # subscribe
    log_scale, set_log_scale = solara.use_state(True)
    slow = model.slow_ticks  # coherence, R and the free energy change only on slow ticks: redraw them then
    with lock:
        ts = recent_timeseries(model)
        figs = {
            "graph": graph_figure(model, layout),
            "forgetting": forgetting_figure(model, ts, log_scale),
            "rho": rho_figure(model, ts),
        }
        figs["coherence"] = solara.use_memo(lambda: coherence_figure(model), dependencies=[model, slow])
        figs["free"] = solara.use_memo(lambda: free_energy_figure(ts), dependencies=[model, slow])
        figs["hist"] = solara.use_memo(lambda: histogram_figure(model), dependencies=[model, model.tick // 5])
    with solara.Columns([3, 2]):
        solara.FigurePlotly(figs["graph"])
        with solara.Column():
            solara.FigurePlotly(figs["rho"])
            solara.FigurePlotly(figs["coherence"])
    solara.Checkbox(label="log scale", value=log_scale, on_value=set_log_scale)
    with solara.Columns([1, 1]):
        solara.FigurePlotly(figs["forgetting"])
        solara.FigurePlotly(figs["free"])
    solara.FigurePlotly(figs["hist"])
