"""Ratings from match tables: online Elo, Bradley–Terry, win counts; winner selection; unreadable-verdict policy.

Pure functions: a game is ``(x, y, score_x)`` with ``score_x`` 1 (x won), 0 (y won) or 0.5 (draw). Nothing here
calls a model or reads a file.

Elo follows the published best-of-8 experiment (RRM ELO scripts; REFERENCE.md): initial 1000, base 10, scale 400,
K = 4, ONE pass over the games in a seeded shuffled order. Each update uses the expectations computed before it,
``E_x = q_x / (q_x + q_y)`` with ``q = base ** (rating / scale)`` — the same arithmetic as ``evalica.elo`` 0.4.2, so
the two agree to the last bit (tested).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from rrm_eval._errors import RRMError
from rrm_eval._seeding import coin, stable_hash, stable_rng, stable_seed

VerdictPolicy = Literal["coin", "draw", "drop"]
#: What an unreadable verdict (parse failure, truncation, backend error) becomes in a rating:
#: ``coin`` = a win for a side picked by a fair coin seeded from (seed, game key) — the published behaviour;
#: ``draw`` = half a point each; ``drop`` = the game is left out.
VERDICT_POLICIES: tuple[str, ...] = ("coin", "draw", "drop")

ELO_DEFAULTS = {"initial": 1000.0, "base": 10.0, "scale": 400.0, "k": 4.0}
#: Bradley–Terry ratings are reported on the Elo scale: 1000 + 400 / ln(10) * theta.
_BT_SCALE = 400.0 / math.log(10.0)


@dataclass(frozen=True)
class Game:
    x: str
    y: str
    score_x: float  # 1 = x won, 0 = y won, 0.5 = draw
    key: str = ""


# -- from judged games to rating games -------------------------------------------------------------------------------
def resolve_games(
    rows: Iterable[Mapping[str, Any]], policy: VerdictPolicy, seed: int = 0
) -> tuple[list[Game], dict[str, int]]:
    """Turn rival rows (``rival_1``, ``rival_2``, ``winner`` = a rival id, ``"draw"`` or None, ``key``) into rating
    games under ``policy``. Returns the games and counts: games, wins, draws, failed, coin_flips, failed_as_draws,
    dropped."""
    if policy not in VERDICT_POLICIES:
        raise RRMError(f"unknown verdict policy {policy!r}", hint=f"use one of {', '.join(VERDICT_POLICIES)}")
    games: list[Game] = []
    counts = dict(games=0, wins=0, draws=0, failed=0, coin_flips=0, failed_as_draws=0, dropped=0)
    for r in rows:
        counts["games"] += 1
        x, y, w, key = r["rival_1"], r["rival_2"], r.get("winner"), r["key"]
        if w is None:
            counts["failed"] += 1
            if policy == "drop":
                counts["dropped"] += 1
                continue
            if policy == "draw":
                counts["failed_as_draws"] += 1
                games.append(Game(x, y, 0.5, key))
                continue
            counts["coin_flips"] += 1
            w = x if coin("unreadable-verdict", seed, key) else y
        elif w == "draw":
            counts["draws"] += 1
            games.append(Game(x, y, 0.5, key))
            continue
        else:
            counts["wins"] += 1
        if w not in (x, y):
            raise RRMError(f"game {key!r}: winner {w!r} is neither rival ({x!r}, {y!r})")
        games.append(Game(x, y, 1.0 if w == x else 0.0, key))
    return games, counts


def shuffled(games: Sequence[Game], *seed_parts: Any) -> list[Game]:
    """The games sorted by key, then shuffled with an RNG seeded from ``seed_parts`` (e.g. seed and set id): the
    same order in every process, whatever order the records were written in."""
    out = sorted(games, key=lambda g: g.key)
    stable_rng("elo-order", *seed_parts).shuffle(out)
    return out


# -- Elo -------------------------------------------------------------------------------------------------------------
def elo(
    games: Sequence[Game],
    players: Sequence[str] = (),
    initial: float = 1000.0,
    base: float = 10.0,
    scale: float = 400.0,
    k: float = 4.0,
) -> dict[str, float]:
    """Online Elo, one pass over ``games`` in the given order. ``players`` fixes the output order and includes
    candidates that played no game (they keep ``initial``)."""
    ratings: dict[str, float] = {p: initial for p in players}
    for g in games:
        rx = ratings.setdefault(g.x, initial)
        ry = ratings.setdefault(g.y, initial)
        q_x = base ** (rx / scale)
        q_y = base ** (ry / scale)
        q = q_x + q_y
        ratings[g.x] = rx + k * (g.score_x - q_x / q)
        ratings[g.y] = ry + k * ((1.0 - g.score_x) - q_y / q)
    return ratings


# -- Bradley–Terry -----------------------------------------------------------------------------------------------------
def _bt_arrays(games: Sequence[Game], players: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    names = list(dict.fromkeys([*players, *(p for g in games for p in (g.x, g.y))]))
    index = {p: i for i, p in enumerate(names)}
    xs = np.fromiter((index[g.x] for g in games), dtype=np.int64, count=len(games))
    ys = np.fromiter((index[g.y] for g in games), dtype=np.int64, count=len(games))
    sx = np.fromiter((g.score_x for g in games), dtype=np.float64, count=len(games))
    return names, xs, ys, sx


def _bt_fit(n: int, xs: np.ndarray, ys: np.ndarray, sx: np.ndarray, l2: float) -> np.ndarray:
    """Minimise the penalised negative log-likelihood with scipy's trust-region Newton method and the exact
    Hessian: the problem is convex, so it converges in a handful of steps (L-BFGS-B needs ~10x longer here)."""
    # Through import_module: scipy ships no type stubs, so its functions are Any either way, and this stays right
    # whether or not a checker has scipy-stubs or an ignore_missing_imports setting.
    minimize: Callable[..., Any] = importlib.import_module("scipy.optimize").minimize

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        d = theta[xs] - theta[ys]
        # -log-likelihood of a game = -(s log σ(d) + (1-s) log σ(-d)); logaddexp keeps it finite for large |d|.
        nll = float(np.sum(sx * np.logaddexp(0.0, -d) + (1.0 - sx) * np.logaddexp(0.0, d)))
        resid = 1.0 / (1.0 + np.exp(-d)) - sx  # d(nll)/d(d)
        grad = np.bincount(xs, resid, n) - np.bincount(ys, resid, n)
        return nll + 0.5 * l2 * float(theta @ theta), grad + l2 * theta

    def hessian(theta: np.ndarray) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-(theta[xs] - theta[ys])))
        w = p * (1.0 - p)
        h = np.diag(np.bincount(xs, w, n) + np.bincount(ys, w, n) + l2)
        np.add.at(h, (xs, ys), -w)
        np.add.at(h, (ys, xs), -w)
        return h

    start = np.zeros(n)
    with np.errstate(all="ignore"):  # trust-exact may divide by ~0 near the optimum; the result is checked below
        try:
            res = minimize(objective, start, jac=True, hess=hessian, method="trust-exact", options={"gtol": 1e-8})
            ok = res.success or float(np.abs(res.jac).max()) <= 1e-6
        except (ValueError, np.linalg.LinAlgError):  # scipy's boundary solver can hit sqrt(<0) on flat directions
            ok = False
        if not ok:  # quasi-Newton with a line search: slower, but it never leaves the descent direction
            res = minimize(objective, start, jac=True, method="BFGS", options={"gtol": 1e-8, "maxiter": 10_000})
    theta: np.ndarray = res.x
    centred: np.ndarray = theta - theta.mean()
    return centred  # ratings are defined up to a constant: centre them


def bradley_terry(
    games: Sequence[Game], players: Sequence[str] = (), l2: float = 1e-2, initial: float = 1000.0
) -> dict[str, float]:
    """Maximum-likelihood Bradley–Terry strengths, P(x beats y) = σ(θx − θy), a draw counting as half a win each
    way. ``l2`` is a weak Gaussian prior on θ (variance 1/l2) so a candidate that won every game gets a large but
    finite rating instead of diverging; ``l2=0`` is the plain MLE (finite only when every candidate both won and
    lost). Reported on the Elo scale, centred on ``initial``."""
    names, xs, ys, sx = _bt_arrays(games, players)
    if not games:
        return {p: initial for p in names}
    theta = _bt_fit(len(names), xs, ys, sx, l2)
    return {p: initial + _BT_SCALE * float(t) for p, t in zip(names, theta, strict=True)}


def bradley_terry_bootstrap(
    games: Sequence[Game],
    players: Sequence[str] = (),
    rounds: int = 200,
    seed: int = 0,
    l2: float = 1e-2,
    level: float = 0.95,
    initial: float = 1000.0,
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of the Bradley–Terry ratings over ``rounds`` resamples of the games (with
    replacement), seeded from ``seed`` and the game keys."""
    names, xs, ys, sx = _bt_arrays(games, players)
    if not games or rounds < 1:
        return {p: (initial, initial) for p in names}
    rng = np.random.default_rng(stable_seed("bt-bootstrap", seed, *sorted(g.key for g in games)))
    draws = np.empty((rounds, len(names)))
    for b in range(rounds):
        pick = rng.integers(0, len(games), len(games))
        draws[b] = initial + _BT_SCALE * _bt_fit(len(names), xs[pick], ys[pick], sx[pick], l2)
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return {p: (float(a), float(b)) for p, a, b in zip(names, lo, hi, strict=True)}


# -- win counts and the winner -------------------------------------------------------------------------------------
def win_counts(games: Sequence[Game], players: Sequence[str] = ()) -> dict[str, float]:
    """Points: 1 per win, 0.5 per draw."""
    out: dict[str, float] = {p: 0.0 for p in players}
    for g in games:
        out[g.x] = out.get(g.x, 0.0) + g.score_x
        out[g.y] = out.get(g.y, 0.0) + 1.0 - g.score_x
    return out


def select_winner(
    scores: Mapping[str, float], tiebreaks: Sequence[Mapping[str, float]] = (), salt: Sequence[Any] = ()
) -> str:
    """The top-scored player. Ties (equal to 1e-9) go to the higher value in each of ``tiebreaks`` in turn, then to
    the smallest hash of (``salt``, player id): deterministic, and unbiased with respect to candidate position."""
    if not scores:
        raise RRMError("cannot pick a winner among no candidates")

    def rank(p: str) -> tuple[float | str, ...]:
        keys = [-round(scores[p], 9)] + [-round(t.get(p, 0.0), 9) for t in tiebreaks]
        return (*keys, stable_hash("winner-tiebreak", *salt, p))

    return min(scores, key=rank)


# -- matches of several games (knockout advancement) ----------------------------------------------------------------
def match_winner(x: str, y: str, outcomes: Sequence[str | None], seed: int, match_id: str) -> str:
    """Who advances from a match of several games: more game wins; level (including all-unreadable or drawn
    games) is settled by a fair coin seeded from (seed, match id), as the published runs settled unreadable
    verdicts."""
    wx = sum(1 for o in outcomes if o == x)
    wy = sum(1 for o in outcomes if o == y)
    if wx != wy:
        return x if wx > wy else y
    return x if coin("match-decider", seed, match_id) else y


__all__ = [
    "ELO_DEFAULTS",
    "VERDICT_POLICIES",
    "Game",
    "VerdictPolicy",
    "bradley_terry",
    "bradley_terry_bootstrap",
    "elo",
    "match_winner",
    "resolve_games",
    "select_winner",
    "shuffled",
    "win_counts",
]
