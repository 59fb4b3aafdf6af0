"""--think-budget: the thinking is cut at exactly N tokens, closed with the judge's marker, and the verdict parsed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import cli, read_jsonl

import rrm_eval
from rrm_eval.models import Completion, Model
from rrm_eval.models._scripted import ScriptedDriver, _which_has_marker
from rrm_eval.protocols import PairwiseConfig

#: Thinking length (whitespace tokens) of item n: some close early, some run long.
LENGTHS = (5, 30, 60, 200)
WISE = 20  # a judge that thought at least this long answers right


def thinking_length(prompt: str) -> int:
    m = re.search(r"Question (\d+)\?", prompt)
    return LENGTHS[int(m.group(1)) % len(LENGTHS)] if m else 7


def respond(prompt: str, sample: int, seed: int) -> str:
    """Thinks in ``w w ...`` of a known length, then ``</think>`` and a verdict; asked after a closed thinking it
    answers, right when it thought at least WISE tokens."""
    good = _which_has_marker(prompt) or 1
    tail = prompt.rsplit("<|assistant|>\n", 1)[-1]
    if "</think>" in tail:
        thought = len(tail.split("</think>")[0].split())
        pick = good if thought >= WISE else 3 - good
        return f"\\boxed{{Assistant {pick}}}"
    return " ".join(["w"] * thinking_length(prompt)) + "\n</think>\n\n" + f"\\boxed{{Assistant {good}}}"


def scripted() -> tuple[Model, ScriptedDriver]:
    driver = ScriptedDriver("custom", respond=respond)
    return Model(driver), driver


def run(pairs: Path, out: Path, budget: int | None, model: Model | None = None, **kw: object) -> rrm_eval.RunOutcome:
    cfg = rrm_eval.PairwiseRunConfig(
        model="scripted:custom",
        judge="rrm",
        task="rewardbench",
        task_options=rrm_eval.TaskOptions(data=str(pairs), limit=8),
        protocol=PairwiseConfig(think_budget=budget, **kw),  # type: ignore[arg-type]
        output_dir=str(out),
        bootstrap=50,
    )
    return rrm_eval.evaluate_pairwise(cfg, model=model or scripted()[0])


def records(outcome: rrm_eval.RunOutcome) -> list[dict]:
    return [r for r in read_jsonl(outcome.run_dir / "records.jsonl") if r.get("kind") == "judge"]


def test_cut_at_exactly_n_tokens_and_verdict_parsed(marked_pairs, tmp_path):
    n = 40
    recs = records(run(marked_pairs, tmp_path, n))
    assert len(recs) == 8
    for r in recs:
        length = thinking_length(r["prompt"])
        thinking = r["raw"].split("</think>")[0]
        assert r["verdict"] in (1, 2) and r["failure"] is None
        if length + 3 > n:  # the whole answer did not fit: cut
            assert r["meta"] == {"thinking_tokens": n, "budget_cut": True}
            assert len(thinking.split()) == n  # exactly N tokens of thinking before the marker
            assert r["raw"].endswith("</think>\n\n\\boxed{Assistant " + str(r["verdict"]) + "}")
            assert r["completion_tokens"] == n + 2
        else:
            assert r["meta"] == {"thinking_tokens": length, "budget_cut": False}
            assert r["raw"] == respond(r["prompt"], 0, 0)
    assert {r["meta"]["budget_cut"] for r in recs} == {True, False}


def test_small_budget_costs_accuracy_and_rescore_reads_records(marked_pairs, tmp_path):
    low = run(marked_pairs, tmp_path / "low", 10)
    high = run(marked_pairs, tmp_path / "high", 300)
    assert high.summary["accuracy"] == 1.0
    assert low.summary["accuracy"] < high.summary["accuracy"]  # a 30-token thinker cut at 10 answers wrong
    again = rrm_eval.rescore(low.run_dir)
    assert again["accuracy"] == low.summary["accuracy"]


def test_budget_is_part_of_the_run_identity(marked_pairs, tmp_path):
    a, b, c = (run(marked_pairs, tmp_path, n) for n in (10, 40, None))
    assert len({a.run_dir, b.run_dir, c.run_dir}) == 3


def test_marker_then_length_continues_to_max_new_tokens(marked_pairs, tmp_path):
    """Closed within the budget but the verdict not finished: the completion goes on (no forced verdict)."""

    def slow_verdict(prompt: str, sample: int, seed: int) -> str:
        tail = prompt.rsplit("<|assistant|>\n", 1)[-1]
        if "</think>" in tail:
            return "\\boxed{Assistant 1}"
        return "w w\n</think>\n\nlet me write a long preamble first " + "x " * 20 + "\\boxed{Assistant 1}"

    driver = ScriptedDriver("custom", respond=slow_verdict)
    recs = records(run(marked_pairs, tmp_path, 8, model=Model(driver)))
    assert all(r["meta"] == {"thinking_tokens": 2, "budget_cut": False} for r in recs)
    assert all(r["raw"].count("\\boxed") == 1 and r["verdict"] == 1 for r in recs)
    assert driver.calls == 16  # phase 1 + one continuation per call


def test_native_engine_budget_is_used_when_the_driver_has_it(marked_pairs, tmp_path):
    class Native(ScriptedDriver):
        def supports_think_budget(self, marker: str) -> bool:
            return marker == "</think>"

        def generate_think_budget(self, requests, params, budget, marker):
            self.native = getattr(self, "native", 0) + len(requests)
            return [
                [Completion("w " * budget + "</think>\n\\boxed{Assistant 1}", "stop", 1, budget + 3)] for _ in requests
            ]

    driver = Native("custom", respond=respond)
    recs = records(run(marked_pairs, tmp_path, 12, model=Model(driver)))
    assert driver.native == 8 and driver.calls == 0
    assert all(r["meta"] == {"thinking_tokens": 12, "budget_cut": True} for r in recs)


def test_model_cut_to_tokens():
    model, _ = scripted()
    assert model.cut_to_tokens("a b  c d", 2) == ("a b  ", 2)
    assert model.cut_to_tokens("a b", 5) == ("a b", 2)
    assert model.count_tokens(" x y z ") == 3


def test_judge_think_end_key(tmp_path):
    judge = rrm_eval.load_judge("rrm")
    assert judge.think_end == "</think>"
    base = (Path(rrm_eval.__file__).parent / "judges" / "data" / "skywork-critic.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text('think_end = " </think>"\n' + base)
    with pytest.raises(rrm_eval.RRMError, match="without surrounding spaces"):
        rrm_eval.load_judge(str(bad))
    ok = tmp_path / "ok.toml"
    ok.write_text('think_end = "</think>"\n' + base)
    assert rrm_eval.load_judge(str(ok)).fingerprint != rrm_eval.load_judge("skywork-critic").fingerprint


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--judge", "skywork-critic", "--think-budget", "8"], "no end-of-thinking marker"),
        (["--judge", "logprob", "--think-budget", "8"], "no thinking phase"),
        (["--judge", "rrm", "--think-budget", "0"], "--think-budget"),
        (["--judge", "rrm", "--think-budget", "8", "--verdict-budget", "0"], "--verdict-budget"),
    ],
)
def test_bad_budget_input_exits_2(marked_pairs, tmp_path, args, needle):
    res = cli(
        "pairwise", "--task", "rewardbench", "--data", marked_pairs, "--model", "scripted:first",
        "--output-dir", tmp_path, "--quiet", *args,
    )  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert needle in res.stderr and "Traceback" not in res.stderr


@pytest.mark.slow
def test_embedded_model_end_to_end(tmp_path):
    res = cli(
        "pairwise", "--model", "smollm2", "--judge", "rrm", "--think-budget", "16", "--limit", "2",
        "--output-dir", tmp_path, "--quiet", "--bootstrap", "0",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    recs = [r for r in read_jsonl(run_dir / "records.jsonl") if r.get("kind") == "judge"]
    assert len(recs) == 2
    for r in recs:
        assert r["meta"]["thinking_tokens"] <= 16
        if r["meta"]["budget_cut"]:
            assert "</think>" in r["raw"] and r["completion_tokens"] <= 16 + 64
