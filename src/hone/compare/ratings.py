"""Ratings from pairwise judgments: Bradley–Terry strengths, Elo-scale points, bootstrap intervals, agreement.

Bradley–Terry: P(i beats j) = p_i / (p_i + p_j), fitted by Hunter's (2004) MM algorithm; a tie counts as
half a win for each side. A tiny prior (a virtual tie of weight `prior`, 0.1 game, between every pair) keeps
every strength finite when a system wins or loses everything. Strength is log p_i, centred on 0; Elo is
1000 + 400/ln 10 * strength, so a 400-point gap means 10:1 odds, as in chess. Intervals come from
resampling prompts with replacement (all judgments of a drawn prompt go together).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

ELO_SCALE = 400 / math.log(10)
ELO_MEAN = 1000.0
SCORE = {"a": 1.0, "b": 0.0, "tie": 0.5}


def _matrix(systems: Sequence[str], judgments: Sequence[dict[str, Any]]) -> np.ndarray:
    """wins[i, j]: points system i took from system j (ties give half to each)."""
    index = {s: k for k, s in enumerate(systems)}
    wins = np.zeros((len(systems), len(systems)))
    for j in judgments:
        a, b, score = index[j["a"]], index[j["b"]], SCORE[j["winner"]]
        wins[a, b] += score
        wins[b, a] += 1 - score
    return wins


def bradley_terry(wins: np.ndarray, prior: float = 0.1, iterations: int = 1000, tol: float = 1e-10) -> np.ndarray:
    """Log-strengths (mean 0) maximising the Bradley–Terry likelihood of `wins` (see `_matrix`)."""
    n = wins.shape[0]
    w = wins + prior / 2 * (1 - np.eye(n))  # the virtual tie
    games = w + w.T
    total = w.sum(axis=1)
    p = np.ones(n)
    for _ in range(iterations):
        denom = (games / (p[:, None] + p[None, :])).sum(axis=1)
        new = np.where(denom > 0, total / np.where(denom > 0, denom, 1), p)
        new /= math.exp(np.log(new).mean())
        if np.max(np.abs(new - p)) < tol:
            p = new
            break
        p = new
    strength = np.log(p)
    return strength - strength.mean()


def elo(strength: np.ndarray) -> np.ndarray:
    return ELO_MEAN + ELO_SCALE * strength


def bootstrap(
    systems: Sequence[str], judgments: Sequence[dict[str, Any]], resamples: int = 200, seed: int = 0
) -> np.ndarray:
    """Elo of every system in each of `resamples` resamples of the prompts: shape (resamples, systems)."""
    rng = np.random.default_rng(seed)
    by_prompt: dict[str, list[dict[str, Any]]] = {}
    for j in judgments:
        by_prompt.setdefault(j["prompt_id"], []).append(j)
    groups = [_matrix(systems, js) for js in by_prompt.values()]
    if not groups:
        return np.full((resamples, len(systems)), ELO_MEAN)
    stacked = np.stack(groups)
    out = np.empty((resamples, len(systems)))
    for r in range(resamples):
        drawn = rng.integers(0, len(groups), len(groups))
        out[r] = elo(bradley_terry(stacked[drawn].sum(axis=0)))
    return out


def ratings(
    systems: Sequence[str], judgments: Sequence[dict[str, Any]], resamples: int = 200, seed: int = 0
) -> list[dict[str, Any]]:
    """One row per system, best first: strength, Elo, its 95% bootstrap interval, wins/losses/ties."""
    wins = _matrix(systems, judgments)
    strength = bradley_terry(wins)
    points = elo(strength)
    low, high = np.percentile(bootstrap(systems, judgments, resamples, seed), [2.5, 97.5], axis=0)
    counts = record(systems, judgments)
    rows = [
        {
            "system": s,
            "strength": float(strength[k]),
            "elo": float(points[k]),
            "ci_low": float(low[k]),
            "ci_high": float(high[k]),
            **counts[s],
        }
        for k, s in enumerate(systems)
    ]
    return sorted(rows, key=lambda r: -r["elo"])


def record(systems: Sequence[str], judgments: Sequence[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Wins, losses and ties of each system."""
    out = {s: {"wins": 0, "losses": 0, "ties": 0} for s in systems}
    for j in judgments:
        if j["winner"] == "tie":
            out[j["a"]]["ties"] += 1
            out[j["b"]]["ties"] += 1
            continue
        winner, loser = (j["a"], j["b"]) if j["winner"] == "a" else (j["b"], j["a"])
        out[winner]["wins"] += 1
        out[loser]["losses"] += 1
    return out


def win_rate(systems: Sequence[str], judgments: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """win_rate[x][y]: the share of x-vs-y judgments x won (ties count half); pairs never judged are left out."""
    wins = _matrix(systems, judgments)
    games = wins + wins.T
    return {
        x: {y: float(wins[i, k] / games[i, k]) for k, y in enumerate(systems) if k != i and games[i, k] > 0}
        for i, x in enumerate(systems)
    }


def agreement(judgments: Sequence[dict[str, Any]], human: str = "human") -> list[dict[str, Any]]:
    """For every other judge: on pairs a human also judged, the share of equal verdicts and Cohen's kappa.

    Kappa is None when it is undefined (both judges gave one and the same verdict throughout).
    """
    by_judge: dict[str, dict[tuple[str, str, str], str]] = {}
    for j in judgments:
        by_judge.setdefault(j["judge"], {})[(j["prompt_id"], j["a"], j["b"])] = j["winner"]
    labels = by_judge.get(human, {})
    out = []
    for judge, verdicts in by_judge.items():
        shared = sorted(verdicts.keys() & labels.keys()) if judge != human else []
        if not shared:
            continue
        theirs, ours = [verdicts[k] for k in shared], [labels[k] for k in shared]
        out.append(
            {
                "judge": judge,
                "vs": human,
                "pairs": len(shared),
                "agreement": sum(x == y for x, y in zip(theirs, ours, strict=True)) / len(shared),
                "kappa": kappa(theirs, ours),
            }
        )
    return out


def kappa(x: Sequence[str], y: Sequence[str]) -> float | None:
    if len(set(x) | set(y)) < 2:
        return None
    from sklearn.metrics import cohen_kappa_score

    value = float(cohen_kappa_score(list(x), list(y)))
    return None if math.isnan(value) else value
