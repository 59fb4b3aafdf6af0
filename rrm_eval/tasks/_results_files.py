"""The two files reward-bench's leaderboard tooling reads, in reward-bench's own layout (checked against
``rewardbench==0.1.4``: ``scripts/run_generative.py``, ``scripts/run_generative_v2.py``, ``analysis/utils.py``).

1. Per-model results (reward-bench saves it as ``eval-set/<model>.json``; we write ``results.json``): one flat JSON
   object with ``model``, ``model_type`` ("Generative RM" for generative judges), ``chat_template`` (a fastchat
   template name, or null for the model's own template) and one score per subset present (v1: accuracy in [0, 1];
   v2: the best-of-4 score, and the Ties formula's value, which may reach 1.01). Nothing else: the leaderboard loads
   it with ``datasets.load_dataset("json", ...)`` (``analysis.utils.load_results``), drops ``chat_template`` and
   takes ``np.nanmean`` over every other column but ``model``/``model_type`` as the model's average -- a text column
   breaks that mean and an extra number (an ``overall``) would be averaged in as if it were a subset.
2. Per-item scores (``eval-set-scores/<model>.json`` there; ``results_per_item.json`` here): the per-prompt dataset
   in *column* layout, i.e. ``Dataset.to_dict()`` -- every column a list with one entry per item -- plus the scalars
   ``model`` and ``model_type``. For v1 the columns are ``id``, ``subset``, ``results`` (the item's score: 1 right,
   0 wrong, 0.5 tie; our both-order mean may also give 0.25 / 0.75), ``text_chosen`` and ``text_rejected``
   (single-turn message lists), in dataset order. For v2 (``run_generative_v2.py``) they are ``id`` (strings: the
   Ties ids are ``ref:<pid>``/``tied:<pid>``), ``subset``, ``num_correct``, ``texts_chosen``, ``texts_rejected``
   (lists of message lists) and ``results`` (non-Ties items: the best-of-4 score) or ``scores`` (Ties items: one
   rating per completion, correct ones first), a column being null on the rows that lack it, as
   ``datasets.concatenate_datasets`` leaves it; reward-bench concatenates the non-Ties rows first, then the Ties rows
   (:func:`rrm_eval.tasks._rewardbench2.leaderboard_item_rows` builds them in that order). reward-bench's tooling
   reads it with ``pandas.read_json(path, orient="records")`` (``analysis.utils.load_scores``).

Both are written sorted by key, as reward-bench's ``save_to_hub`` does (``json.dumps(..., sort_keys=True)``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: reward-bench's ``model_type`` for a generative judge (``run_generative.py``).
GENERATIVE_RM = "Generative RM"
#: File names inside a run directory.
RESULTS_FILE = "results.json"
ITEM_SCORES_FILE = "results_per_item.json"
#: v2's per-item columns (``run_generative_v2.py`` keep_columns plus what it adds).
V2_COLUMNS = ("id", "subset", "num_correct", "texts_chosen", "texts_rejected", "results", "scores")


def leaderboard_id(item_id: str) -> int | str:
    """reward-bench's v1 ids are integers (the dataset's int64 ``id`` column); ours are kept as strings. A string of
    digits goes back to an int so the file joins with reward-bench's own on ``id``; any other id stays as it is."""
    return int(item_id) if item_id.isdigit() else item_id


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def model_results(
    model: str,
    subset_accuracy: Mapping[str, float],
    chat_template: str | None = None,
    model_type: str = GENERATIVE_RM,
) -> dict[str, Any]:
    """The per-model results object: ``model``, ``model_type``, ``chat_template`` and one accuracy per subset."""
    reserved = {"model", "model_type", "chat_template"} & set(subset_accuracy)
    if reserved:  # a subset named like a header key would silently overwrite it
        raise ValueError(f"subset names clash with the results header: {sorted(reserved)}")
    bad = {s: v for s, v in subset_accuracy.items() if not _is_number(v)}
    if bad:  # the leaderboard's nanmean would skip a null and choke on text: refuse rather than mis-average
        raise ValueError(f"subset scores must be finite numbers: {bad}")
    out: dict[str, Any] = {"model": model, "model_type": model_type, "chat_template": chat_template}
    out.update({s: float(v) for s, v in subset_accuracy.items()})
    return dict(sorted(out.items()))


def single_turn(prompt: str, answer: str) -> list[dict[str, str]]:
    """One completion as reward-bench's message list (``map_conversations`` in ``rewardbench/utils.py``)."""
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


_messages = single_turn


def v1_item_scores(
    model: str,
    rows: Iterable[tuple[str, str, float, str, str, str]],
    model_type: str = GENERATIVE_RM,
) -> dict[str, Any]:
    """The v1 per-item scores file from ``(id, subset, score, prompt, chosen, rejected)`` rows in dataset order."""
    cols: dict[str, list[Any]] = {k: [] for k in ("id", "subset", "results", "text_chosen", "text_rejected")}
    for item_id, subset, score, prompt, chosen, rejected in rows:
        cols["id"].append(leaderboard_id(item_id))
        cols["subset"].append(subset)
        cols["results"].append(float(score))
        cols["text_chosen"].append(_messages(prompt, chosen))
        cols["text_rejected"].append(_messages(prompt, rejected))
    out: dict[str, Any] = {**cols, "model": model, "model_type": model_type}
    return dict(sorted(out.items()))


def v2_item_scores(model: str, rows: Sequence[Mapping[str, Any]], model_type: str = GENERATIVE_RM) -> dict[str, Any]:
    """The RewardBench 2 per-item scores file from one mapping per prompt, in the order given (reward-bench's: the
    non-Ties rows, then the Ties rows).

    Each row needs ``id``, ``subset`` and ``num_correct``, and either ``results`` (the prompt's best-of-4 score, e.g.
    1 / 0.5 / 0.25 / 0) or, for Ties rows, ``scores`` (one finite rating per completion, correct completions first:
    reward-bench's ``process_single_model`` compares them, so a missing rating must already be replaced by the value
    the scoring used); ``texts_chosen`` / ``texts_rejected`` (lists of message lists) are optional. Columns a row
    lacks are null there, as in reward-bench's file, where the non-Ties and Ties datasets are concatenated."""
    for n, row in enumerate(rows):
        missing = [k for k in ("id", "subset", "num_correct") if k not in row]
        if missing or ("results" not in row and "scores" not in row):
            raise ValueError(f"v2 per-item row #{n} lacks {missing or ['results or scores']}")
        if "results" in row and not _is_number(row["results"]):
            raise ValueError(f"v2 per-item row #{n} ({row['id']}): results must be a number, got {row['results']!r}")
        scores = row.get("scores")
        if "scores" in row and not (isinstance(scores, list) and scores and all(_is_number(x) for x in scores)):
            raise ValueError(f"v2 per-item row #{n} ({row['id']}): scores must be a list of numbers, got {scores!r}")
    cols = {k: [row.get(k) for row in rows] for k in V2_COLUMNS}
    out: dict[str, Any] = {**cols, "model": model, "model_type": model_type}
    return dict(sorted(out.items()))


__all__ = [
    "GENERATIVE_RM",
    "ITEM_SCORES_FILE",
    "RESULTS_FILE",
    "V2_COLUMNS",
    "leaderboard_id",
    "model_results",
    "single_turn",
    "v1_item_scores",
    "v2_item_scores",
]
