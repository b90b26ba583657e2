"""`cohlab`: the command-line surface (SPEC 9.1). Every input is validated before anything runs."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from model.keys import parameter_table, to_dotted
from model.overrides import parse_assignments
from model.params import ParameterError
from scenarios.loader import ScenarioError, list_scenarios, load_scenario, narrative_text

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


MAX_TICKS = 10_000_000  # the same cap as a scenario file's ticks


def out_dir_option(ctx: click.Context, param: click.Parameter, value: str) -> Path:
    """--out: refuse an empty path at once (an unset shell variable must not mean the current folder)."""
    if not value.strip():
        raise click.BadParameter("is empty: give the directory to write, e.g. --out runs/first")
    return Path(value)


def fail(message: str, code: int = 2) -> None:
    """One clear line on stderr and a non-zero exit."""
    click.echo(f"cohlab: error: {message}", err=True)
    sys.exit(code)


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="coherence-lab")
def main() -> None:
    """Coherence Lab: a multi-scale graph of fast energy, slow weights, coherence and persistence."""
    if threading.current_thread() is threading.main_thread():  # cohlab.launch set a quiet one for the imports
        signal.signal(signal.SIGINT, signal.default_int_handler)  # from here on, commands handle Ctrl-C


@main.command("list")
def list_cmd() -> None:
    """List the bundled scenarios."""
    for name in list_scenarios():
        sc = load_scenario(name)
        click.echo(f"{name:22s} {sc.scenario.title}")


@main.command()
@click.argument("scenario")
def info(scenario: str) -> None:
    """Show a scenario's narrative and its parameters (SCENARIO: a name or a .toml path)."""
    try:
        sc = load_scenario(scenario)
        resolved = to_dotted(sc.resolve_params())
    except (ScenarioError, ParameterError) as exc:
        fail(str(exc))
    click.echo(f"{sc.scenario.title}\n(scenario '{sc.name}', from {sc.scenario.source}; {sc.scenario.ticks} ticks)\n")
    click.echo(narrative_text(sc))
    click.echo("PARAMETERS (value in this scenario; * = differs from the default; set with --set key=value)")
    for row in parameter_table():
        value = resolved[row["key"]]
        mark = "*" if value != to_dotted_default(row["key"]) else " "
        click.echo(f" {mark} {row['key']:32s} {json.dumps(value):>14s}  {row['doc']}")
    if sc.stimuli:
        click.echo("\nSTIMULI")
        for s in sc.stimuli:
            when = (
                f"at {s.at:g}" + (f" every {s.every:g}" if s.every else "") + (f" until {s.until:g}" if s.until else "")
            )
            click.echo(f"   {s.kind:18s} {when:28s} {s.note}")


def to_dotted_default(key: str) -> Any:
    from model.params import Params

    return to_dotted(Params())[key]


@main.command()
@click.argument("scenario")
@click.option("--out", "out", required=True, callback=out_dir_option, help="run directory to write (new, or cohlab's)")
@click.option(
    "--seed", type=click.IntRange(min=0), default=None, help="random seed ≥ 0 (default: drawn, kept in params.json)"
)
@click.option(
    "--ticks",
    type=click.IntRange(min=1, max=MAX_TICKS),
    default=None,
    help="fast ticks to run [scenario's]",
)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="override a parameter (repeatable)")
@click.option("--force", is_flag=True, help="replace a run directory cohlab wrote (never another folder)")
@click.option("--plots", is_flag=True, help="also save PNG plots into the run directory")
@click.option("--quiet", is_flag=True, help="no progress bar")
def run(
    scenario: str,
    out: Path,
    seed: int | None,
    ticks: int | None,
    sets: tuple[str, ...],
    force: bool,
    plots: bool,
    quiet: bool,
) -> None:
    """Run a scenario and write its run directory (params.json, CSVs, events.jsonl, summary.json)."""
    from analysis.export import OutputError, prepare_out_dir, write_run
    from analysis.runner import run_scenario
    from model.model import SimulationError

    try:
        overrides = parse_assignments(sets)
        sc = load_scenario(scenario)
        sc.resolve_params(overrides)
        prepare_out_dir(out, force)
        result = run_scenario(sc, seed=seed, ticks=ticks, overrides=overrides, progress=not quiet)
        extra = None
        if plots:
            from analysis.plots import save_plots

            def extra(tmp: Path) -> None:
                save_plots(result.model, tmp)

        write_run(result.model, out, result.ticks, result.summary, force=force, extra=extra)
    except (ScenarioError, ParameterError, OutputError) as exc:
        fail(str(exc))
    except SimulationError as exc:
        fail(f"the run stopped: {exc}; nothing was written", code=1)
    click.echo(f"wrote {out} (scenario {sc.name}, seed {result.model.seed}, {result.ticks} ticks)")


SWEEP_EPILOG = """\b
Examples:
  cohlab sweep criticality --out runs/sw --grid learning.budget=1,2,3 --grid controller.enabled=true,false
  cohlab sweep criticality --out runs/lhs --range spread.alpha=0.02:0.2 --range learning.budget=1:3 --lhs 40
  cohlab sweep criticality --out runs/sobol --range spread.alpha=0.02:0.2 --range learning.budget=1:3 --sobol 64
  cohlab sweep temperature_sweep --ready --out runs/tsweep --timeseries summary
  cohlab sweep criticality --out runs/sw ... --resume          (the same flags again)
  cohlab sweep criticality --out runs/sw ... --scheduler tcp://10.0.0.5:8786
"""


@main.command(epilog=SWEEP_EPILOG)
@click.argument("scenario")
@click.option(
    "--out",
    "out",
    required=True,
    callback=out_dir_option,
    help="sweep directory to write (new, or cohlab's)",
)
@click.option("--grid", multiple=True, metavar="KEY=V1,V2,...", help="grid values of a parameter (repeatable)")
@click.option("--lhs", type=click.IntRange(min=1), default=None, metavar="N", help="Latin hypercube of N points")
@click.option("--sobol", type=click.IntRange(min=1), default=None, metavar="N", help="Sobol design, N a power of 2")
@click.option("--range", "ranges", multiple=True, metavar="KEY=LO:HI", help="a sampled parameter (repeatable)")
@click.option(
    "--replicates", type=click.IntRange(min=1), default=None, metavar="R", help="runs per design point [default: 1]"
)
@click.option(
    "--ticks",
    type=click.IntRange(min=1, max=MAX_TICKS),
    default=None,
    metavar="N",
    help="fast ticks per run [scenario's]",
)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="fixed override for every run (repeatable)")
@click.option(
    "--seed", type=click.IntRange(min=0), default=None, metavar="S", help="sweep seed; run seeds derive from it [0]"
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=None, metavar="N", help="process-pool size [default: core count]"
)
@click.option("--scheduler", default=None, metavar="ADDRESS", help="run on a Dask cluster, e.g. tcp://host:8786")
@click.option("--resume", is_flag=True, help="finish an interrupted sweep, skipping finished runs")
@click.option("--force", is_flag=True, help="replace a sweep directory cohlab wrote (never another folder)")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True)
@click.option(
    "--timeseries",
    type=click.Choice(["every", "summary"]),
    default=None,
    help="every: also the long timeseries.csv; summary: runs.csv only [every]",
)
@click.option("--every", type=click.IntRange(min=1), default=None, metavar="K", help="keep every K-th tick [1]")
@click.option(
    "--common-seeds",
    is_flag=True,
    help="seeds depend on --seed and the replicate only: every design point sees the same seeds (paired)",
)
@click.option("--ready", is_flag=True, help="start from the scenario's own [sweep] table (flags add or override)")
@click.option("--quiet", is_flag=True, help="no progress bar")
def sweep(
    scenario: str,
    out: Path,
    grid: tuple[str, ...],
    lhs: int | None,
    sobol: int | None,
    ranges: tuple[str, ...],
    replicates: int | None,
    ticks: int | None,
    sets: tuple[str, ...],
    seed: int | None,
    workers: int | None,
    scheduler: str | None,
    resume: bool,
    force: bool,
    fmt: str,
    timeseries: str | None,
    every: int | None,
    common_seeds: bool,
    ready: bool,
    quiet: bool,
) -> None:
    """Run a parameter sweep of SCENARIO into --out: runs.csv and a long timeseries.csv (BehaviorSpace-style)."""
    from analysis.outdir import OutputError  # light: the standard library only
    from scenarios.sweep_spec import SweepError

    try:
        from analysis.sweep.design import build_spec
        from analysis.sweep.run import run_sweep

        spec = build_spec(
            scenario,
            ready=ready,
            grid=grid,
            ranges=ranges,
            lhs=lhs,
            sobol=sobol,
            replicates=replicates,
            ticks=ticks,
            sets=sets,
            seed=seed,
            timeseries=timeseries,
            every=every,
            common_seeds=common_seeds,
        )
        runs = run_sweep(
            spec, out, workers=workers, scheduler=scheduler, resume=resume, force=force, fmt=fmt, progress=not quiet
        )
    except (SweepError, ScenarioError, ParameterError, OutputError) as exc:
        fail(str(exc))
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (SweepInterrupted says which)
        fail(_interrupted(out, str(exc) or "interrupted", resume), 130)
    n_failed = int((runs["status"] != "ok").sum())
    click.echo(f"wrote {out}: {len(runs)} runs, {len(runs) - n_failed} ok, {n_failed} failed")
    if n_failed:
        fail(
            f"{n_failed} of {len(runs)} runs failed; runs.csv is written, with each failure's reason in its "
            f"'error' column ({out / 'runs.csv'})",
            1,
        )


def _interrupted(out: Path, why: str, resume: bool) -> str:
    """What an interrupted sweep left, and how to go on."""
    done = len(list((out / "runs").glob("*.json"))) if (out / "runs").is_dir() else 0
    if done:
        return f"{why}: {done} finished runs are saved in {out / 'runs'}; finish with the same command and --resume"
    if (out / "spec.json").is_file():
        return f"{why} before any run finished; start again with the same command and --resume"
    return f"{why} before the sweep started; nothing was written" if not resume else f"{why}; nothing was changed"


@main.command()
@click.argument("directory", type=click.Path(path_type=Path))
def analyze(directory: Path) -> None:
    """Summarise the sweep in DIRECTORY into DIRECTORY/analysis (mean and 95 % CI tables, plots, Sobol indices)
    and its claims of the source documents into DIRECTORY/claims.json (also for a run directory)."""
    from analysis.analyze import analyze as run_analysis
    from scenarios.sweep_spec import SweepError

    try:
        report = run_analysis(directory)
    except SweepError as exc:
        fail(str(exc))
    click.echo(report.text())


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True)
def app(host: str, port: int) -> None:
    """Start the browser app (Solara) on http://HOST:PORT."""
    import os

    import app as app_module

    click.echo(f"Coherence Lab app: open http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}")
    solara = Path(sys.executable).with_name("solara")
    os.execv(
        str(solara),
        [str(solara), "run", app_module.__file__, "--host", host, "--port", str(port), "--no-open", "--production"],
    )


@main.command()
@click.option("--json", "as_json", is_flag=True, help="one JSON object per N on stdout")
@click.option("--sizes", default="1000,10000,100000,1000000", show_default=True, help="comma-separated node counts")
@click.option("--ticks", type=click.IntRange(min=1), default=20, show_default=True, help="timed fast ticks per N")
@click.option("--mesa-max", type=int, default=100_000, show_default=True, help="largest N for the per-agent loop")
@click.option("--numpy-max", type=int, default=1_000_000, show_default=True, help="largest N for the numpy engine")
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True, help="whole runs per N (median)")
@click.option(
    "--contended", default="121,10000", show_default=True, help="sizes timed with one busy process beside (empty: none)"
)
def bench(as_json: bool, sizes: str, ticks: int, mesa_max: int, numpy_max: int, repeats: int, contended: str) -> None:
    """Benchmark whole runs (slow ticks included), the fast and slow tick, the numpy engine, a per-agent
    Mesa loop, build time and peak memory per N; then small graphs with one busy process beside."""
    from .bench import run_bench

    ns, busy = _sizes("--sizes", sizes), _sizes("--contended", contended)
    run_bench(ns, ticks=ticks, mesa_max=mesa_max, as_json=as_json, numpy_max=numpy_max, repeats=repeats, contended=busy)


def _sizes(option: str, text: str) -> tuple[int, ...]:
    """Comma-separated node counts (each at least 1), or a clear error."""
    try:
        ns = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        fail(f"{option} expects comma-separated integers, got {text!r}")
    if any(n < 1 for n in ns):
        fail(f"{option} expects node counts of at least 1, got {text!r}")
    return ns


if __name__ == "__main__":
    main()
