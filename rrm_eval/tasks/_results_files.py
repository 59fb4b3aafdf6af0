"""The two files reward-bench's leaderboard tooling reads, in reward-bench's own layout (checked against
``rewardbench==0.1.4``: ``scripts/run_generative.py``, ``scripts/run_generative_v2.py``, ``analysis/utils.py``).

1. Per-model results (reward-bench saves it as ``eval-set/<model>.json``; we write ``results.json``): one flat JSON
   object with ``model``, ``model_type`` ("Generative RM" for generative judges), ``chat_template`` (a fastchat
   template name, or null for the model's own template) and one accuracy in [0, 1] per subset present. The
   leaderboard loads it with ``datasets.load_dataset("json", ...)`` (``analysis.utils.load_results``).
2. Per-item scores (``eval-set-scores/<model>.json`` there; ``results_per_item.json`` here): the per-prompt dataset
   in *column* layout, i.e. ``Dataset.to_dict()`` — every column a list with one entry per item in dataset order —
   plus the scalars ``model`` and ``model_type``. For v1 the columns are ``id``, ``subset``, ``results`` (the item's
   score: 1 right, 0 wrong, 0.5 tie; our both-order mean may also give 0.25 / 0.75), ``text_chosen`` and
   ``text_rejected`` (single-turn message lists). For v2 (``run_generative_v2.py``) they are ``id``, ``subset``,
   ``num_correct``, ``texts_chosen``, ``texts_rejected`` and ``results`` (non-Ties items) or ``scores`` (Ties items:
   the ratings list), a column being null on the rows that lack it, as ``datasets.concatenate_datasets`` leaves it.
   reward-bench's tooling reads it with ``pandas.read_json(path, orient="records")`` (``analysis.utils.load_scores``).

Both are written sorted by key, as reward-bench's ``save_to_hub`` does (``json.dumps(..., sort_keys=True)``).
"""

from __future__ import annotations

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
    out: dict[str, Any] = {"model": model, "model_type": model_type, "chat_template": chat_template}
    out.update({s: float(v) for s, v in subset_accuracy.items()})
    return dict(sorted(out.items()))


def _messages(prompt: str, answer: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


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
    """The RewardBench 2 per-item scores file, for the RB2 task to call with one mapping per prompt in dataset order.

    Each row needs ``id``, ``subset`` and ``num_correct``, and either ``results`` (the prompt's best-of-4 score, e.g.
    1 / 0.5 / 0) or, for Ties rows, ``scores`` (the list of ratings, correct completions first); ``texts_chosen`` /
    ``texts_rejected`` (lists of message lists) are optional. Columns a row lacks are null there, as in reward-bench's
    file, where the non-Ties and Ties datasets are concatenated."""
    for n, row in enumerate(rows):
        missing = [k for k in ("id", "subset", "num_correct") if k not in row]
        if missing or ("results" not in row and "scores" not in row):
            raise ValueError(f"v2 per-item row #{n} lacks {missing or ['results or scores']}")
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
    "v1_item_scores",
    "v2_item_scores",
]
