"""`--dataset PATH`: the file's columns say which task it is, and the error gives the exact flags."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import cli, write_jsonl

from rrm_eval._errors import UnknownNameError
from rrm_eval.tasks import get_task
from rrm_eval.tasks._detect import detect_rows, detect_task

RB1 = {"id": 1, "subset": "hep-go", "prompt": "q", "chosen": "a", "rejected": "b"}
RB2 = {"id": "1", "subset": "Math", "prompt": "q", "chosen": ["a"], "rejected": ["b", "c", "d"], "num_correct": 1}
RMB = {"id": 1, "domain": "chat", "prompt": "q", "chosen": ["a", "aa", "**aa**"], "rejected": ["b", "bb", "**bb**"]}
JB = {"pair_id": "p", "question": "q", "response_A": "a", "response_B": "b", "label": "A>B", "source": "mmlu-pro"}


@pytest.mark.parametrize(
    "row,task", [(RB1, "rewardbench"), (RB2, "rewardbench2"), (RMB, "rm-bench"), (JB, "judgebench")]
)
def test_each_layout_is_detected_and_answered_with_the_exact_flags(tmp_path: Path, row: dict, task: str) -> None:
    path = write_jsonl(tmp_path / "my data.jsonl", [row, row])
    assert detect_task(str(path)) == task
    with pytest.raises(UnknownNameError) as exc:
        get_task(str(path))
    assert exc.value.hint == f"its columns are {task}'s layout: use --dataset {task} --data '{path}'"
    res = cli("pairwise", "--dataset", str(path), "--model", "scripted:first")
    assert res.returncode == 2 and f"--dataset {task} --data" in res.stderr and "Traceback" not in res.stderr


def test_rm_bench_needs_three_styles_and_a_domain() -> None:
    # two styles, or no domain: RB2-like lists, not RM-Bench
    assert detect_rows([{**RMB, "chosen": ["a", "b"]}]) is None
    assert detect_rows([{**RB2, "chosen": ["a", "b", "c"]}]) == "rewardbench2"


@pytest.mark.parametrize(
    "rows",
    [
        [{"question": "q", "answer": "a"}],  # no known layout
        [RB1, JB],  # rows of two layouts: no single answer
        [{**RB1, "chosen": 3}],  # chosen neither text nor list
    ],
)
def test_unknown_or_mixed_layouts_keep_the_generic_hint(tmp_path: Path, rows: list[dict]) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", rows)
    assert detect_task(str(path)) is None
    with pytest.raises(UnknownNameError) as exc:
        get_task(str(path))
    assert exc.value.hint is not None and exc.value.hint.startswith("a data file goes to --data")


def test_a_missing_or_unreadable_file_keeps_the_generic_hint(tmp_path: Path) -> None:
    assert detect_task(str(tmp_path / "nope.jsonl")) is None
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    assert detect_task(str(bad)) is None
    with pytest.raises(UnknownNameError) as exc:
        get_task(str(tmp_path / "nope.jsonl"))
    assert exc.value.hint is not None and "--dataset rewardbench --data" in exc.value.hint
