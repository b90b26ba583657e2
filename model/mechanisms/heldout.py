"""Held-out cues: situations never presented in training (seed 001's predictions 2 and 4; SPEC 6).

Seed 001 predicts that behavioural changes "generalize to novel situations" and that dreams
generalize better than real examples. The recall test (``recall.py``) scores a pattern's own
cue; here the same read-only test scores cues that training never presented. They are drawn
once, when the experiment is built (before any training, from their own random stream, so
nothing else in the run changes), for every pattern P with cue c (|c| = h nodes) and
response r:

    noisy        c with n = ceil(noise·h) of its nodes (a random choice) replaced by nodes drawn
                 from outside every pattern of A and B: the learned context, corrupted
                 → target r
    partial      a random subset of c of ceil(keep·h) nodes, always fewer than h
                 → target r
    recombined   for every ordered pair (P, Q) of patterns of the same task, P ≠ Q: the first
                 ⌈h/2⌉ nodes of P's cue with the last ⌊h/2⌋ of Q's (walk order), a context made
                 of two halves that were never presented together
                 → target r_P ∪ r_Q

Each held-out cue is scored like a pattern's cue: the k most activated non-cue nodes after
``recall.ticks`` ticks with the cue held, k = |target|, F1 against the target. The score in
the untrained weights (computed at build time, like the experiment's chance level) is the
kind's own chance level.

Why these are never "used in training": every training stimulus (a presentation or replay
of a pattern, a dream) holds energy on a set of pattern nodes; a noisy cue holds a node
outside every pattern, so it is never a subset of a training stimulus; a partial cue is a
strict subset of one cue and a recombined cue is drawn from two patterns' cues, so neither
equals any presented set (patterns, their cues, dreams, which have ``patterns.size`` nodes).
The test checks this on the stimuli of real runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .patterns import Pattern

KINDS = ("noisy", "partial", "recombined")


@dataclass(frozen=True)
class HeldOut:
    """One held-out cue and the nodes it should recall."""

    kind: str  # one of KINDS
    label: str  # e.g. "A1~", "A1/2", "A1+A2"
    cue: np.ndarray
    target: np.ndarray


def make_heldout(
    n_nodes: int, patterns: Sequence[Pattern], rng: np.random.Generator, noise: float, keep: float
) -> list[HeldOut]:
    """The held-out cues of every pattern (see the module docstring), in a fixed order.

    Args:
        n_nodes: the graph's node count (replacement nodes are drawn from 0 … n_nodes − 1).
        patterns: the experiment's patterns (tasks A and B).
        rng: the held-out stream.
        noise: fraction of cue nodes replaced in a noisy cue, in (0, 1].
        keep: fraction of cue nodes kept in a partial cue, in (0, 1).

    Raises:
        ValueError: if the graph has too few nodes outside the patterns for the noisy cues.
    """
    member = np.zeros(n_nodes, bool)
    for p in patterns:
        member[p.nodes] = True
    outside = np.flatnonzero(~member)
    out: list[HeldOut] = []
    for p in patterns:
        h = p.cue.size
        n_swap = min(h, math.ceil(noise * h))
        if outside.size < n_swap:
            raise ValueError(f"heldout: the graph has {outside.size} nodes outside the patterns, {n_swap} needed")
        swap = np.sort(rng.choice(h, n_swap, replace=False))
        noisy = p.cue.copy()
        noisy[swap] = rng.choice(outside, n_swap, replace=False)
        out.append(HeldOut("noisy", f"{p.label}~", noisy, p.response))
        n_keep = max(1, min(h - 1, math.ceil(keep * h)))
        kept = np.sort(rng.choice(h, n_keep, replace=False))
        out.append(HeldOut("partial", f"{p.label}/{n_keep}", p.cue[kept], p.response))
    for task in ("A", "B"):
        same = [p for p in patterns if p.task == task]
        for p in same:
            for q in same:
                if p is q:
                    continue
                h1 = math.ceil(p.cue.size / 2)
                h2 = q.cue.size // 2
                cue = np.unique(np.concatenate([p.cue[:h1], q.cue[q.cue.size - h2 :]]))
                target = np.setdiff1d(np.union1d(p.response, q.response), cue)
                if target.size:
                    out.append(HeldOut("recombined", f"{p.label}+{q.label}", cue, target))
    return out


def by_kind(items: Sequence[HeldOut], scores: np.ndarray) -> dict[str, float | None]:
    """Mean score per kind (None for a kind with no cue)."""
    out: dict[str, float | None] = {}
    for kind in KINDS:
        s = [float(x) for h, x in zip(items, scores, strict=True) if h.kind == kind]
        out[kind] = float(np.mean(s)) if s else None
    return out
