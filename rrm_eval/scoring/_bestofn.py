"""Best-of-N: from a tournament's judge records to the rival table, per-set ratings and best-of-N accuracy.

Pure functions over records and candidate sets (no model, no files):

* :func:`rival_rows` flattens game records into the rival table (one row per judge call: question, rival_1 = the
  candidate shown first, rival_2, winner, raw verdict), the published "rival results";
* :func:`rate_set` turns one set's rows into Elo / Bradley–Terry / win ratings and the candidate each selector picks;
* :func:`best_of_n` reports, per selector, the fraction of problems whose pick is correct, next to the oracle (any
  candidate correct), the mean single-sample accuracy, majority vote over extracted answers, and what the judge spent.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from rrm_eval._errors import RRMError
from rrm_eval._seeding import stable_seed
from rrm_eval.judges import FAILURE_REASONS
from rrm_eval.scoring._ratings import (
    ELO_DEFAULTS,
    VerdictPolicy,
    bradley_terry,
    bradley_terry_bootstrap,
    elo,
    match_winner,
    resolve_games,
    select_winner,
    shuffled,
    win_counts,
)
from rrm_eval.tasks import CandidateSet

#: Selectors in report order. ``knockout`` is the bracket's champion (or, with a final round robin, its winner);
#: ``champion`` is the pick of a schedule that makes its own (the answer-aware and budgeted knockouts), replayed
#: from the rival table by the caller and passed to :func:`rate_set` as ``picks``.
SELECTORS = ("oracle", "single-sample", "majority", "elo", "bradley-terry", "wins", "knockout", "champion")
#: Phases whose matches decide who goes on (their rows carry ``advanced``): knockout, Swiss, answer-aware knockout,
#: adaptive knockout, answer-aware adaptive knockout, answer duel.
_ADVANCING = ("ko", "sw", "aw", "ad", "aa", "du")


def _winner_of(rec: Mapping[str, Any], meta: Mapping[str, Any]) -> str | None:
    v = rec.get("verdict")
    if v is None:
        return None
    if v == "tie":
        return "draw"
    winner: str = meta["first"] if int(v) == 1 else meta["second"]
    return winner


def rival_rows(
    records: Iterable[Mapping[str, Any]],
    sets: Sequence[CandidateSet],
    run_seed: int,
    advanced: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One row per game record of the given sets, sorted by (set, round, key) so a resumed run gives the same table
    as an uninterrupted one. Knockout and Swiss rows also carry ``advanced``: who went on from that match, as the
    run journaled it (``advanced``: match id -> winner, from the run's advance records); runs made before
    decisions were journaled are decided again exactly as the run did (:func:`match_winner` with the run's seed)."""
    index = {cs.id: i for i, cs in enumerate(sets)}
    questions = {cs.id: cs.question for cs in sets}
    rows = []
    for r in records:
        meta = r.get("meta") or {}
        sid = meta.get("set")
        if sid not in index:
            continue
        rows.append(
            {
                "set_id": sid,
                "question": questions[sid],
                "match_id": r["item_id"],
                "phase": meta["phase"],
                "round": meta["round"],
                "game": meta["game"],
                "key": r["key"],
                "x": meta["x"],
                "y": meta["y"],
                "rival_1": meta["first"],
                "rival_2": meta["second"],
                "winner": _winner_of(r, meta),
                "verdict": r.get("verdict"),
                "raw_verdict": r.get("extracted"),
                "failure": r.get("failure"),
                "prompt_tokens": int(r.get("prompt_tokens") or 0),
                "completion_tokens": int(r.get("completion_tokens") or 0),
            }
        )
    rows.sort(key=lambda row: (index[row["set_id"]], row["round"], row["key"]))
    matches: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["phase"] in _ADVANCING:
            matches[row["match_id"]].append(row)
    for mid, games in matches.items():
        went_on = (advanced or {}).get(mid) or match_winner(
            games[0]["x"], games[0]["y"], [g["winner"] for g in games], run_seed, mid
        )
        for g in games:
            g["advanced"] = went_on
    return rows


def majority_vote(cs: CandidateSet, salt: Sequence[Any] = ()) -> str:
    """The first candidate of the largest group of equivalent extracted answers (math-verify equivalence, exact
    normalized strings first); ties between groups by :func:`select_winner`'s hash; candidates without an answer
    vote for nothing (if none has one, every candidate is its own group)."""
    from rrm_eval.tasks import answers_match, normalize_answer

    groups: list[list[str]] = []
    reps: list[str] = []
    norms: list[str] = []
    for c in cs.candidates:
        if c.answer is None or not c.answer.strip():
            continue
        norm = normalize_answer(c.answer)
        for i, rep in enumerate(reps):
            if norm == norms[i] or answers_match(c.answer, rep):
                groups[i].append(c.id)
                break
        else:
            groups.append([c.id])
            reps.append(c.answer)
            norms.append(norm)
    if not groups:
        groups = [[c.id] for c in cs.candidates]
    sizes = {g[0]: float(len(g)) for g in groups}
    return select_winner(sizes, salt=("majority", *salt))


def rate_set(
    cs: CandidateSet,
    rows: Sequence[Mapping[str, Any]],
    policy: VerdictPolicy = "coin",
    seed: int = 0,
    l2: float = 1e-2,
    bt_bootstrap: int = 0,
    picks: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """Ratings of one set's candidates and each selector's pick. Elo uses the games in an order shuffled with a seed
    from (seed, set id); ties between top ratings follow :func:`select_winner` (then wins, or BT for ``wins``).
    ``picks``: picks made outside the ratings (selector -> candidate id; None = not made, e.g. an unfinished run)."""
    ids = [c.id for c in cs.candidates]
    games, counts = resolve_games(rows, policy, seed)
    ratings = {
        "elo": elo(shuffled(games, seed, cs.id), ids, **ELO_DEFAULTS),
        "bradley-terry": bradley_terry(games, ids, l2=l2),
        "wins": win_counts(games, ids),
    }
    salt = (seed, cs.id)
    selected = {
        "elo": select_winner(ratings["elo"], [ratings["wins"]], salt),
        "bradley-terry": select_winner(ratings["bradley-terry"], [ratings["wins"]], salt),
        "wins": select_winner(ratings["wins"], [ratings["bradley-terry"]], salt),
        "majority": majority_vote(cs, salt),
    }
    final = [r for r in rows if r["phase"] == "final"]
    knockout = [r for r in rows if r["phase"] == "ko"]
    if final:
        finalists = list(dict.fromkeys(p for r in final for p in (r["x"], r["y"])))
        final_games, _ = resolve_games(final, policy, seed)
        selected["knockout"] = select_winner(win_counts(final_games, finalists), [ratings["bradley-terry"]], salt)
    elif knockout:
        last = max(r["round"] for r in knockout)
        deciding = {r["match_id"]: r["advanced"] for r in knockout if r["round"] == last}
        if len(deciding) == 1:  # a complete bracket ends in one final
            selected["knockout"] = next(iter(deciding.values()))
    for name, cid in (picks or {}).items():
        if cid is not None:
            if cid not in ids:
                raise RRMError(f"problem {cs.id!r}: {name} picked {cid!r}, which is not one of its candidates")
            selected[name] = cid
    correct = {c.id: bool(c.correct) for c in cs.candidates}
    out: dict[str, Any] = {
        "set_id": cs.id,
        "n_candidates": len(ids),
        "n_correct": sum(correct.values()),
        "games": counts,
        "selected": selected,
        "correct": {name: correct[cid] for name, cid in selected.items()},
        "ratings": {name: {p: round(v, 6) for p, v in r.items()} for name, r in ratings.items()},
    }
    if bt_bootstrap:
        ci = bradley_terry_bootstrap(games, ids, rounds=bt_bootstrap, seed=seed, l2=l2)
        out["bradley_terry_ci95"] = {p: [round(a, 3), round(b, 3)] for p, (a, b) in ci.items()}
    return out


def _accuracy(values: list[bool], picks: np.ndarray | None) -> dict[str, Any]:
    arr = np.asarray(values, dtype=float)
    out: dict[str, Any] = {
        "accuracy": float(arr.mean()) if len(arr) else None,
        "correct": int(arr.sum()),
        "n": len(arr),
    }
    if picks is not None and len(arr):
        means = arr[picks].mean(axis=1)
        lo, hi = np.quantile(means, [0.025, 0.975])
        out["ci95"] = [float(lo), float(hi)]
    return out


def best_of_n(
    sets: Sequence[CandidateSet],
    per_set: Sequence[Mapping[str, Any]],
    rows: Sequence[Mapping[str, Any]],
    policy: VerdictPolicy,
    bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Accuracy of each selector over problems, with percentile bootstrap intervals over problems (paired: the same
    resamples for every selector), plus verdict counts and what the judge (and, when recorded, the policy) spent."""
    n = len(sets)
    picks = None
    if bootstrap and n:
        rng = np.random.default_rng(stable_seed("accuracy-bootstrap", seed, n))
        picks = rng.integers(0, n, size=(bootstrap, n))
    values: dict[str, list[bool]] = {
        "oracle": [any(c.correct for c in cs.candidates) for cs in sets],
    }
    single = [sum(bool(c.correct) for c in cs.candidates) / len(cs.candidates) for cs in sets]
    for s in per_set:
        for name, ok in s["correct"].items():
            values.setdefault(name, []).append(ok)
    accuracy: dict[str, Any] = {}
    for name in SELECTORS:
        if name == "single-sample":
            arr = np.asarray(single)
            accuracy[name] = {"accuracy": float(arr.mean()) if n else None, "correct": None, "n": n}
            if picks is not None and n:
                lo, hi = np.quantile(arr[picks].mean(axis=1), [0.025, 0.975])
                accuracy[name]["ci95"] = [float(lo), float(hi)]
        elif name in values:
            # a selector missing for some sets (an unfinished knockout) is scored over the sets that have it
            accuracy[name] = _accuracy(values[name], picks if len(values[name]) == n else None)
    counts: Counter[str] = Counter()
    for s in per_set:
        counts.update(s["games"])
    failures = Counter(r["failure"] for r in rows if r.get("failure"))
    read = [r for r in rows if r.get("verdict") in (1, 2)]
    policy_tokens: list[Any] = [c.meta.get("completion_tokens") for cs in sets for c in cs.candidates]
    return {
        "n_sets": n,
        "candidates_per_set": sorted({len(cs.candidates) for cs in sets}),
        "accuracy": accuracy,
        "verdicts": {
            "policy": policy,
            **dict(counts),
            "failures": {k: failures[k] for k in FAILURE_REASONS if failures[k]},
            "first_position_rate": (sum(1 for r in read if r["verdict"] == 1) / len(read)) if read else None,
        },
        "spend": {
            "judge_calls": len(rows),
            "judge_calls_per_set": len(rows) / n if n else None,
            "judge_prompt_tokens": sum(r["prompt_tokens"] for r in rows),
            "judge_completion_tokens": sum(r["completion_tokens"] for r in rows),
            # tokens the policy spent on the candidates, when the sets record it (``rrm-eval candidates`` does)
            "policy_completion_tokens": (
                sum(int(t) for t in policy_tokens)
                if policy_tokens and all(t is not None for t in policy_tokens)
                else None
            ),
        },
    }


__all__ = ["SELECTORS", "best_of_n", "majority_vote", "rate_set", "rival_rows"]
