"""The claims table: rows, their validation and files, the README section, and every verdict function.

The verdicts are pure functions of the numbers: they are checked here with hand-made numbers
(each branch), and the experiments' small versions check that `cohlab analyze` applies them
to what the runs gave. The README section must equal what ``analysis.claims`` generates from
the kept claims files.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import ablation, claims, generalization, lr_safety, survival
from analysis.claims import BEGIN, END, Claim, ClaimError, Estimate

GOOD = {
    "id": "001-P9",
    "source": "001",
    "claim": "a short quotation",
    "verdict": "confirmed",
    "numbers": "0.1 ± 0.05",
    "command": "cohlab run x --out y",
    "why": "",
}


def up(mean: float = 0.2) -> Estimate:
    return Estimate(mean, 0.05, 10)  # significantly above 0 when mean > 0.05


def down(mean: float = -0.2) -> Estimate:
    return Estimate(mean, 0.05, 10)


def zero() -> Estimate:
    return Estimate(0.01, 0.05, 10)


# ----------------------------------------------------------------------------- rows and files


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"verdict": "true"}, "verdict 'true' is not one of"),
        ({"id": "1-P1"}, "must look like"),
        ({"id": "002-P1"}, "must start with its source"),
        ({"source": "004", "id": "004-x"}, "source '004'"),
        ({"verdict": "not testable"}, "must say why"),
        ({"why": "because"}, "only for 'not testable'"),
        ({"numbers": ""}, "needs its numbers"),
        ({"claim": "two\nlines"}, "one line"),
        ({"claim": "x" * 300}, "at most"),
        ({"numbers": 3}, "must be a string"),
    ],
)
def test_bad_rows_are_refused_with_the_field_named(change: dict, needle: str) -> None:
    with pytest.raises(ClaimError, match=needle):
        Claim(**(GOOD | change))


def test_an_untestable_row_needs_only_its_reason() -> None:
    c = Claim(**(GOOD | {"verdict": "not testable", "numbers": "", "command": "", "why": "no such thing here"}))
    assert "no such thing here" in claims.render([c])


def test_files_round_trip_byte_for_byte_and_bad_files_change_nothing(tmp_path: Path) -> None:
    rows = [Claim(**GOOD), Claim(**(GOOD | {"id": "001-P10"}))]
    path = claims.write_claims(tmp_path, rows)
    first = path.read_bytes()
    assert claims.read_claims(path) == rows
    claims.write_claims(tmp_path, claims.read_claims(path))
    assert path.read_bytes() == first
    with pytest.raises(ClaimError, match="appears twice"):
        claims.write_claims(tmp_path, [rows[0], rows[0]])
    assert path.read_bytes() == first
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "claims.json").write_text(json.dumps([GOOD | {"extra": 1}]))
    with pytest.raises(ClaimError, match="unknown: extra"):
        claims.read_claims(bad / "claims.json")
    (bad / "claims.json").write_text("{not json")
    with pytest.raises(ClaimError, match="not a readable JSON"):
        claims.read_claims(bad / "claims.json")


def test_collect_copies_all_or_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store"
    good, bad = tmp_path / "good", tmp_path / "bad"
    for d, name in ((good, "learning_rate"), (bad, "generalization")):
        d.mkdir()
        (d / "spec.json").write_text(json.dumps({"scenario": name}))
    claims.write_claims(good, [Claim(**GOOD)])
    (bad / "claims.json").write_text(json.dumps([GOOD | {"verdict": "maybe"}]))
    with pytest.raises(ClaimError, match="maybe"):
        claims.collect([good, bad], store)
    assert not store.exists() or not any(store.iterdir())
    (bad / "claims.json").write_text(json.dumps([GOOD]))  # the same id as good's row
    with pytest.raises(ClaimError, match="appears twice"):
        claims.collect([good, bad], store)
    assert not store.exists() or not any(store.iterdir())
    assert claims.collect([good], store) == [store / "learning_rate.json"]


def test_the_readme_section_is_generated_from_the_kept_claims() -> None:
    text = claims.README.read_text(encoding="utf-8")
    assert claims.section(text) == claims.render(claims.load_store())


def test_readme_check_detects_a_stale_section(tmp_path: Path) -> None:
    store = tmp_path / "claims"
    store.mkdir()
    claims.write_claims(store, [Claim(**GOOD)]).rename(store / "x.json")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{BEGIN}\nold\n{END}\nrest\n", encoding="utf-8")
    assert claims.update_readme(readme, store, check=True) is False
    assert "old" in readme.read_text()  # --check writes nothing
    assert claims.update_readme(readme, store) is False
    assert claims.update_readme(readme, store, check=True) is True
    new = readme.read_text()
    assert new.startswith("intro\n") and new.endswith(f"{END}\nrest\n") and "001-P9" in new
    readme.write_text("no markers\n")
    with pytest.raises(ClaimError, match="markers"):
        claims.update_readme(readme, store)


def test_every_kept_claim_names_a_reproducing_command_of_this_program() -> None:
    for c in claims.load_store():
        if c.verdict != "not testable":
            assert c.command.startswith(("cohlab ", "python -m ")), c.id


# ----------------------------------------------------------------------------- statistics


def test_estimate_is_the_student_t_interval() -> None:
    e = claims.estimate([1.0, 2.0, 3.0])
    assert e.mean == 2.0 and e.n == 3
    assert e.ci95 == pytest.approx(stats.t.ppf(0.975, 2) * 1.0 / math.sqrt(3))
    assert math.isnan(claims.estimate([4.0]).ci95) and claims.estimate([]).n == 0
    d = claims.paired([3.0, 5.0, 7.0], [1.0, 2.0, 3.0])  # differences 2, 3, 4
    assert d.mean == 3.0 and d.ci95 == pytest.approx(e.ci95)
    assert claims.direction(up()) == 1 and claims.direction(down()) == -1 and claims.direction(zero()) == 0
    assert claims.direction(Estimate(1.0, math.nan, 1)) == 0


# ----------------------------------------------------------------------------- verdicts with hand-made numbers


def test_learning_rate_verdict() -> None:
    each = {"diversity": down(), "frozen": down()}
    assert lr_safety.verdict(safe=zero(), because=down(), **each) == "confirmed"
    assert lr_safety.verdict(safe=down(), because=down(), **each) == "confirmed"
    assert lr_safety.verdict(safe=zero(), because=down(), diversity=zero(), frozen=down()) == "partly"  # one does it
    assert lr_safety.verdict(safe=up(), because=zero(), **each) == "refuted"
    assert lr_safety.verdict(safe=zero(), because=zero(), **each) == "partly"  # harmless anyway: no "because"
    assert lr_safety.verdict(safe=up(), because=down(), **each) == "partly"


def test_frozen_context_verdict() -> None:
    assert ablation.verdict_frozen_context(learns=up(), forgetting=down(), acquisition=zero()) == "confirmed"
    assert ablation.verdict_frozen_context(learns=up(), forgetting=down(), acquisition=down()) == "partly"
    assert ablation.verdict_frozen_context(learns=up(), forgetting=zero(), acquisition=zero()) == "partly"
    assert ablation.verdict_frozen_context(learns=zero(), forgetting=down(), acquisition=zero()) == "refuted"
    assert ablation.verdict_frozen_context(learns=up(), forgetting=up(), acquisition=zero()) == "refuted"


def test_all_six_verdict() -> None:
    assert ablation.verdict_all_six([down()] * 6, [up()] * 6) == "confirmed"
    assert ablation.verdict_all_six([down()] * 6, [zero()] * 6) == "partly"
    assert ablation.verdict_all_six([down()] * 5 + [zero()], [up()] * 6) == "partly"
    assert ablation.verdict_all_six([zero()] * 6, [zero(), down()] * 3) == "refuted"


def test_generalization_verdicts() -> None:
    kinds = ("noisy", "partial", "recombined")
    assert generalization.verdict_generalizes(dict.fromkeys(kinds, up())) == "confirmed"
    assert generalization.verdict_generalizes({"noisy": up(), "partial": zero(), "recombined": up()}) == "partly"
    assert generalization.verdict_generalizes(dict.fromkeys(kinds, zero())) == "refuted"
    same = dict.fromkeys(kinds, zero())
    assert generalization.verdict_dreams({**same, "recombined": up()}, up(0.1)) == "confirmed"
    assert generalization.verdict_dreams({**same, "noisy": down()}, up(0.1)) == "partly"
    assert generalization.verdict_dreams(same, zero()) == "refuted"
    assert generalization.verdict_dreams({**same, "partial": up()}, zero()) == "partly"
    assert generalization.verdict_dreams(dict.fromkeys(kinds, down()), down()) == "refuted"


def test_survival_verdict_and_agreement() -> None:
    assert survival.verdict(0.95, 10) == "confirmed"
    assert survival.verdict(0.75, 10) == "partly"
    assert survival.verdict(0.5, 10) == "refuted"
    assert survival.verdict(1.0, 3) == "partly"  # too few points to judge
    # hand-made plane with the boundary at s = 1.5/S: points far on either side, one near it (not scored)
    rows = []
    for S, s, alive in [(2, 0.1, 0.0), (4, 0.05, 0.1), (128, 0.1, 1.0), (64, 0.4, 0.9), (15, 0.1, 0.2)]:
        d = survival.predicted_dkl(4, S)
        rows.append({"samples": S, "surplus": s, "leaves_alive": alive, "tree_surplus": d, "predicted_alive": d < s})
    share, n = survival.agreement(pd.DataFrame(rows))
    assert (share, n) == (1.0, 4)
    rows[0]["leaves_alive"] = 0.9  # a noisy point that survives: on the wrong side
    assert survival.agreement(pd.DataFrame(rows)) == (0.75, 4)


# ----------------------------------------------------------------------------- the persistence boundary, independently


def test_sampling_noise_costs_m_minus_1_over_2s_nats() -> None:
    """E[KL(q̂‖q)] of a histogram of S draws → (M − 1)/(2S) (Wilks), by Monte Carlo with scipy's rel_entr."""
    from scipy.special import rel_entr

    rng = np.random.default_rng(0)
    for M, S in ((4, 64), (4, 200), (6, 100)):
        q = rng.dirichlet(np.ones(M) * 3)
        counts = rng.multinomial(S, q, size=40_000)
        kl = rel_entr(counts / S, q).sum(axis=1)
        assert kl.mean() == pytest.approx((M - 1) / (2 * S), rel=0.06), (M, S)
        assert survival.predicted_dkl(M, S) == (M - 1) / (2 * S)


def test_the_boundary_is_where_r_equals_one() -> None:
    """R = (1 + s)·1^ν/(1 + D_KL) crosses 1 at D_KL = s; S* = (M − 1)/(2s) puts the noise there."""
    for s in (0.025, 0.1, 0.4):
        assert survival.ratio_at_boundary(s, s) == pytest.approx(1.0)
        assert survival.ratio_at_boundary(s, 0.5 * s) > 1 > survival.ratio_at_boundary(s, 2 * s)
        S = survival.predicted_samples(4, s)
        assert survival.predicted_dkl(4, S) == pytest.approx(s)
    assert survival.predicted_samples(4, 0.0) == math.inf and survival.predicted_dkl(4, 0) == 0.0


def test_ablation_claims_from_a_made_up_sweep(tmp_path: Path) -> None:
    """P2, P3, P5 (and the untestable row) from a synthetic ablation: the verdicts follow the numbers."""
    rng = np.random.default_rng(1)
    p = ablation.PREFIX
    rows = []
    for k in range(64):
        flags = {f"defenses.{f}": bool(k >> b & 1) for b, f in enumerate(ablation.FLAGS)}
        for seed in range(4):
            frozen = flags["defenses.frozen_context"]
            forgetting = 0.2 - 0.15 * frozen + 0.01 * rng.standard_normal()
            row = {"run_id": 4 * k + seed, "point": k, "replicate": seed, "seed": seed, **flags}
            row |= {p + "complete": True, p + "acquisition_A": 0.6, p + "chance": 0.05}
            row |= {p + "retention_A": 0.6 - forgetting, p + "forgetting": forgetting, p + "acquisition_B": 0.5}
            for kind in ("noisy", "partial", "recombined"):  # held out: well above chance, except partial
                row[f"{p}heldout.{kind}"] = (0.3 if kind != "partial" else 0.05) + 0.01 * rng.standard_normal()
                row[f"{p}heldout_chance.{kind}"] = 0.05 + 0.01 * rng.standard_normal()
            rows.append(row | {"status": "ok", "error": "", "wall_s": 1.0})
    pd.DataFrame(rows).to_csv(tmp_path / "runs.csv", index=False)
    got = {c.id: c for c in ablation.claims(tmp_path)}
    assert set(got) == {"001-P2", "001-P3", "001-P5", "001-substrate"}
    assert got["001-P2"].verdict == "partly"  # partial cues at chance, the other two above
    assert got["001-P3"].verdict == "confirmed"  # learns, forgets less, acquires as much
    assert got["001-P5"].verdict == "partly"  # all six forget less than the singles without frozen context only
    assert got["001-substrate"].verdict == "not testable"


def test_thermodynamics_verdicts_and_rows(tmp_path: Path) -> None:
    from analysis import thermo_claims

    assert thermo_claims.tolerance(0.01, 2.0, 1.0) == pytest.approx(0.06)  # 3 % of |ΔF| wins
    assert thermo_claims.tolerance(0.1, 2.0, 1.0) == pytest.approx(0.3)  # 3 s.e. wins
    assert thermo_claims.tolerance(0.001, 0.1, 2.0) == pytest.approx(0.1)  # 0.05·T wins
    assert thermo_claims.verdict_jarzynski({"a": (0.01, 0.05), "b": (0.02, 0.05)}, 0.3) == "confirmed"
    assert thermo_claims.verdict_jarzynski({"a": (0.01, 0.05), "b": (0.02, 0.05)}, -0.1) == "partly"
    assert thermo_claims.verdict_jarzynski({"a": (0.01, 0.05), "b": (0.2, 0.05)}, 0.3) == "partly"
    assert thermo_claims.verdict_jarzynski({"a": (0.1, 0.05)}, 0.3) == "refuted"
    assert thermo_claims.verdict_crooks(1.05, 1.0) == "confirmed"
    assert thermo_claims.verdict_crooks(0.8, 1.0) == "partly"
    assert thermo_claims.verdict_crooks(0.5, 2.0) == "confirmed"  # 1/T = 0.5
    assert thermo_claims.verdict_crooks(math.nan, 1.0) == "refuted"
    keys = {f"delta_F_{n}": -1.0 for n in thermo_claims.ESTIMATES} | {
        f"delta_F_{n}_se": 0.01 for n in thermo_claims.ESTIMATES
    }
    summary = {
        "thermo": {
            "delta_F_exact": -1.02,
            **keys,
            "dissipated_work": 0.4,
            "crooks_slope": 0.97,
            "crooks_crossing": -1.0,
        }
    }
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    (tmp_path / "params.json").write_text(json.dumps({"scenario": "thermodynamics", "params": {"phase": {"T": 1.0}}}))
    rows = {c.id: c.verdict for c in thermo_claims.claims(tmp_path)}
    assert rows == {"000-jarzynski": "confirmed", "000-crooks": "confirmed"}
    summary["thermo"]["delta_F_exact"] = None
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    assert {c.verdict for c in thermo_claims.claims(tmp_path)} == {"not testable"}
