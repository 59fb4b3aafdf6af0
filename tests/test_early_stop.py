"""Early-stop voting (`--votes k --early-stop`): the rules, the waves' call accounting, seeding by absolute sample
index, resume mid-waves, bad values, and end-to-end runs through the CLI."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from helpers import cli, only_run, read_jsonl, summary_of
from hypothesis import given, settings
from hypothesis import strategies as st

from rrm_eval._errors import RRMError
from rrm_eval.judges import load_judge
from rrm_eval.models import GenerateRequest, Model, SamplingParams
from rrm_eval.models._scripted import ScriptedDriver
from rrm_eval.protocols import PairwiseConfig
from rrm_eval.protocols._early_stop import (
    ConfidenceRule,
    ExactRule,
    Tally,
    Wave,
    leader_loses,
    next_wave,
    stop_rule,
    waves_drawn,
)
from rrm_eval.protocols._pairwise import vote_summary
from rrm_eval.scoring import presentation_score
from rrm_eval.scoring._pairwise import _majority_outcome

OUTCOME = st.sampled_from(["chosen", "rejected", "tie", None])
VERDICT = {"chosen": 1, "rejected": 2, "tie": "tie", None: None}


def as_records(outcomes: list) -> list[dict]:
    """Records of presentation AB (chosen shown first) with these votes."""
    return [{"order": "AB", "verdict": VERDICT[o]} for o in outcomes]


def draw_in_waves(votes: list, rule) -> tuple[int, list[int]]:
    """Votes drawn (a prefix of ``votes``) and the size of each wave, driving next_wave as run_pairwise does."""
    drawn, sizes = 0, []
    while (w := next_wave(votes[:drawn], len(votes), rule)) is not None:
        assert w.first == drawn  # waves follow each other
        sizes.append(w.n)
        drawn += w.n
    return drawn, sizes


# -- the rules ---------------------------------------------------------------------------------------------------


@settings(max_examples=600, deadline=None)
@given(st.integers(1, 33).flatmap(lambda k: st.lists(OUTCOME, min_size=k, max_size=k)))
def test_exact_rule_never_changes_the_full_k_verdict(votes):
    drawn, _ = draw_in_waves(votes, ExactRule())
    for policy in ("tie", "wrong"):
        assert presentation_score(as_records(votes[:drawn]), policy) == presentation_score(as_records(votes), policy)
    # The position-consistency statistic, which counts tie verdicts as a label, is fixed as well.
    assert _majority_outcome(as_records(votes[:drawn])) == _majority_outcome(as_records(votes))


@settings(max_examples=300, deadline=None)
@given(
    st.integers(2, 33).flatmap(lambda k: st.lists(OUTCOME, min_size=k, max_size=k)),
    st.sampled_from([ExactRule(), ConfidenceRule(0.8), ConfidenceRule(0.95), ConfidenceRule(0.999)]),
)
def test_waves_draw_exactly_the_sequential_stopping_time(votes, rule):
    """No presentation settles inside a wave: the waves draw as many votes as checking the rule after every vote."""
    k = len(votes)
    sequential = next((d for d in range(k + 1) if d == k or rule.settled(Tally.of(votes[:d]), k)), k)
    assert draw_in_waves(votes, rule)[0] == sequential


@settings(max_examples=300, deadline=None)
@given(st.integers(2, 33).flatmap(lambda k: st.lists(OUTCOME, min_size=k, max_size=k)))
def test_confidence_rule_stops_no_later_than_exact_and_only_with_a_strict_leader(votes):
    k = len(votes)
    exact, _ = draw_in_waves(votes, ExactRule())
    conf, _ = draw_in_waves(votes, ConfidenceRule(0.95))
    tally = Tally.of(votes[:conf])
    assert conf <= exact or tally.tie  # exact also waits out tie verdicts, which conf ignores
    if conf < k:
        assert tally.leader > tally.other


def test_first_wave_is_what_a_side_needs():
    # k = 16: a side needs 9 votes; k = 8: 5; k = 1: the one vote.
    assert next_wave([], 16, ExactRule()) == Wave(0, 9)
    assert next_wave([], 8, ExactRule()) == Wave(0, 5)
    assert next_wave([], 1, ExactRule()) == Wave(0, 1)
    assert next_wave([], 16, None) == Wave(0, 16)
    # 8-1 after 9 votes: one more vote for the leader settles it (9 > 6 left).
    assert next_wave(["chosen"] * 8 + ["rejected"], 16, ExactRule()) == Wave(9, 1)
    # 5-4: the lead of 1 needs 4 more leader votes to exceed what is left (lead 5 > 3 left).
    assert next_wave(["chosen", "rejected"] * 4 + ["chosen"], 16, ExactRule()) == Wave(9, 4)
    # unanimous: done after the first wave
    assert next_wave(["rejected"] * 9, 16, ExactRule()) is None
    # conf=0.95 stops 4-0 at k = 16 (P(leader loses) = 2.0 %, 3-0: 5.3 %), so its first wave is 4
    assert leader_loses(4, 0, 12) <= 0.05 < leader_loses(3, 0, 13)
    assert next_wave([], 16, ConfidenceRule(0.95)) == Wave(0, 4)


def test_leader_loses_is_the_beta_binomial_mass():
    # a = b = 0, r = 2: X ~ BetaBinomial(2, 1, 1) is uniform on {0, 1, 2}; the leader (chosen) must get 2.
    assert leader_loses(0, 0, 2) == pytest.approx(2 / 3)
    assert leader_loses(3, 0, 2) == 0.0  # decided: no losing outcome
    # a = 1, b = 0, r = 1: P(X = 0) = beta / (alpha + beta) = 1/3; 1 + 0 vs 0 + 1 is a tie, not a win.
    assert leader_loses(1, 0, 1) == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    "value,spec", [("exact", "exact"), (" EXACT ", "exact"), ("conf=0.95", "conf=0.95"), ("conf=.9", "conf=0.9")]
)
def test_rule_values_are_canonical(value, spec):
    rule = stop_rule(value)
    assert rule is not None and rule.spec == spec
    assert PairwiseConfig(votes=8, early_stop=value).early_stop == spec


@pytest.mark.parametrize("value", ["conf=2", "conf=0.5", "conf=1", "conf=abc", "conf=", "fast", "conf", "exactly"])
def test_bad_rule_values_name_the_flag(value):
    with pytest.raises(RRMError) as err:
        PairwiseConfig(votes=8, early_stop=value)
    assert "--early-stop" in err.value.message and err.value.hint


# -- seeds by absolute sample index ----------------------------------------------------------------------------


def test_scripted_samples_are_seeded_by_absolute_index():
    model = Model(ScriptedDriver("random"))
    req = [GenerateRequest("<|user|>\nwhich?\n", key="x|AB")]
    full = model.generate(req, SamplingParams(n=12, temperature=1.0, seed=3))[0]
    later = model.generate(req, SamplingParams(n=4, temperature=1.0, seed=3, first_sample=7))[0]
    assert [c.text for c in later] == [c.text for c in full[7:11]]
    assert len({c.text for c in full}) == 2  # the coin really varies with the index


# -- end to end through the CLI --------------------------------------------------------------------------------


def pairwise(data: Path, out: Path, *extra: str, model: str = "scripted:random", judge: str = "rrm") -> Path:
    res = cli(
        "pairwise", "--dataset", "rewardbench", "--data", str(data), "--model", model, "--judge", judge,
        "--temperature", "1", "--output-dir", str(out), "--quiet", *extra,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return only_run(out)


def by_key(run: Path) -> dict[str, dict]:
    return {r["key"]: r for r in read_jsonl(run / "records.jsonl")}


def lines_by_key(run: Path) -> dict[str, str]:
    lines = (run / "records.jsonl").read_text().splitlines()
    return {json.loads(line)["key"]: line for line in lines if line.strip()}


def item_scores(run: Path) -> dict:
    from rrm_eval.scoring import score_items

    return {k: v.score for k, v in score_items(read_jsonl(run / "records.jsonl")).items()}


def test_exact_early_stop_equals_full_k_and_its_votes_are_byte_identical(tmp_path, marked_pairs):
    full = pairwise(marked_pairs, tmp_path / "full", "--votes", "16", "--order", "both")
    early = pairwise(marked_pairs, tmp_path / "early", "--votes", "16", "--order", "both", "--early-stop")
    full_lines, early_lines = lines_by_key(full), lines_by_key(early)
    assert len(full_lines) == 40 * 2 * 16
    assert len(early_lines) < len(full_lines)
    # every vote drawn (in any wave) is the very line the full run wrote for that key
    later_waves = [k for k in early_lines if int(k.rsplit("|", 1)[1]) >= 9]
    assert later_waves  # some presentations went past the first wave of 9
    assert all(early_lines[k] == full_lines[k] for k in early_lines)
    # the drawn votes of a presentation are a prefix 0..d-1
    samples: dict[tuple, list[int]] = {}
    for r in by_key(early).values():
        samples.setdefault((r["item_id"], r["order"]), []).append(r["sample"])
    assert all(sorted(s) == list(range(len(s))) and len(s) >= 9 for s in samples.values())
    # identical verdicts, hence identical scores
    assert item_scores(early) == item_scores(full)
    assert summary_of(early)["accuracy"] == summary_of(full)["accuracy"]
    assert json.loads((early / "spec.json").read_text())["protocol"]["early_stop"] == "exact"


def test_unanimous_judge_draws_one_wave_of_nine(tmp_path, marked_pairs):
    run = pairwise(marked_pairs, tmp_path, "--votes", "16", "--early-stop", "exact", model="scripted:first")
    records = read_jsonl(run / "records.jsonl")
    per = Counter((r["item_id"], r["order"]) for r in records)
    assert set(per.values()) == {9} and len(per) == 40
    judge = load_judge("rrm")
    votes = vote_summary(records, judge, PairwiseConfig(votes=16, early_stop="exact"))
    assert votes["votes_drawn"] == 360 and votes["votes_full"] == 640
    assert votes["votes_saved_fraction"] == pytest.approx(1 - 9 / 16)
    assert votes["mean_waves"] == 1.0
    assert votes["tokens"]["spent"] > 0 and votes["tokens"]["saved_fraction_estimate"] == pytest.approx(1 - 9 / 16)
    # the prompt is stored once per presentation, with vote 0, as in a full run
    assert all((r["prompt"] is not None) == (r["sample"] == 0) for r in records)


def test_wave_batches_are_counted(tmp_path, marked_pairs):
    """Judge calls per presentation: 9 for a unanimous one; the scripted driver counts requests (one per wave)."""
    from rrm_eval import PairwiseRunConfig, evaluate_pairwise
    from rrm_eval.tasks import TaskOptions

    driver = ScriptedDriver("first")
    cfg = PairwiseRunConfig(
        model="scripted:first",
        judge="rrm",
        task="rewardbench",
        task_options=TaskOptions(data=str(marked_pairs)),
        protocol=PairwiseConfig(votes=16, temperature=1.0, early_stop="exact"),
        output_dir=str(tmp_path),
        bootstrap=0,
    )
    evaluate_pairwise(cfg, model=Model(driver))
    assert driver.calls == 40  # one request (n = 9) per presentation: a single wave


def test_confidence_rule_end_to_end_saves_more(tmp_path, marked_pairs):
    exact = pairwise(marked_pairs, tmp_path / "exact", "--votes", "16", "--early-stop", model="scripted:accuracy:0.9")
    conf = pairwise(
        marked_pairs, tmp_path / "conf", "--votes", "16", "--early-stop", "conf=0.95", model="scripted:accuracy:0.9"
    )
    assert len(by_key(conf)) < len(by_key(exact))
    exact_lines = lines_by_key(exact)
    assert all(exact_lines.get(k, line) == line for k, line in lines_by_key(conf).items())  # same seeds
    assert json.loads((conf / "spec.json").read_text())["protocol"]["early_stop"] == "conf=0.95"


def test_resume_mid_waves_gives_the_uninterrupted_records(tmp_path, marked_pairs):
    args = ("--votes", "16", "--order", "both", "--early-stop")
    done = pairwise(marked_pairs, tmp_path / "a", *args)
    whole = lines_by_key(done)
    # An interrupted copy: the first wave only, with a torn presentation (votes 0-3 of its 9) and a torn last line.
    cut = tmp_path / "cut"
    shutil.copytree(done, cut)
    for name in ("summary.json", "results.json", "run_stats.json", "results_per_item.json"):
        (cut / name).unlink(missing_ok=True)
    keep = [line for k, line in whole.items() if int(k.rsplit("|", 1)[1]) < 9]
    torn_item = json.loads(keep[0])["item_id"]
    keep = [ln for ln in keep if json.loads(ln)["item_id"] != torn_item or json.loads(ln)["sample"] < 4]
    (cut / "records.jsonl").write_text("\n".join(keep) + "\n" + keep[-1][:20])
    res = cli(
        "pairwise", "--dataset", "rewardbench", "--data", str(marked_pairs), "--model", "scripted:random",
        "--judge", "rrm", "--temperature", "1", "--run-dir", str(cut), "--quiet", *args,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert lines_by_key(cut) == whole
    assert summary_of(cut)["accuracy"] == summary_of(done)["accuracy"]
    # a finished run does nothing more
    again = cli(
        "pairwise", "--dataset", "rewardbench", "--data", str(marked_pairs), "--model", "scripted:random",
        "--judge", "rrm", "--temperature", "1", "--run-dir", str(cut), "--quiet", *args,
    )  # fmt: skip
    assert again.returncode == 0 and lines_by_key(cut) == whole
    assert json.loads((cut / "run_stats.json").read_text())["records_written"] == 0


@pytest.mark.parametrize("value", ["conf=2", "conf=abc", "sometimes", "conf=0.5"])
def test_bad_early_stop_values_exit_2_with_a_hint(tmp_path, marked_pairs, value):
    res = cli(
        "pairwise", "--dataset", "rewardbench", "--data", str(marked_pairs), "--model", "scripted:random",
        "--votes", "8", "--early-stop", value, "--output-dir", str(tmp_path), "--quiet",
    )  # fmt: skip
    assert res.returncode == 2
    assert "error:" in res.stderr and "--early-stop" in res.stderr and "hint:" in res.stderr
    assert "Traceback" not in res.stderr
    assert not list(tmp_path.glob("*/records.jsonl"))  # refused before any run was made


def test_logprob_judge_early_stop_is_a_no_op(tmp_path, marked_pairs):
    run = pairwise(marked_pairs, tmp_path, "--votes", "8", "--early-stop", model="scripted:marker", judge="logprob")
    records = read_jsonl(run / "records.jsonl")
    assert len(records) == 40 and {r["sample"] for r in records} == {0}  # one record per call, no waves
    votes = vote_summary(records, load_judge("logprob"), PairwiseConfig(votes=8, early_stop="exact"))
    assert votes["votes_per_presentation"] == 1 and votes["votes_saved_fraction"] == 0.0
    assert "no-op" in votes["note"]


@pytest.mark.slow
def test_embedded_model_logprob_early_stop_is_a_no_op(tmp_path, marked_pairs):
    run = pairwise(
        marked_pairs, tmp_path, "--votes", "4", "--early-stop", "--limit", "2", model="smollm2", judge="logprob"
    )
    records = read_jsonl(run / "records.jsonl")
    assert len(records) == 2 and all(r["sample"] == 0 and len(r["logprobs"]) == 2 for r in records)


def test_waves_drawn_counts_rounds():
    assert waves_drawn(["chosen"] * 9, 16, ExactRule()) == 1
    assert waves_drawn(["chosen"] * 8 + ["rejected", "chosen"], 16, ExactRule()) == 2
    assert waves_drawn(["chosen"] * 16, 16, None) == 1
