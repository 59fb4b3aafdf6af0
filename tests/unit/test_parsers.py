"""Table tests for the verdict parsers: last verdict wins, failures are typed, near-misses are lenient but noted."""

from __future__ import annotations

import pytest

from rrm_eval.judges import get_parser

RRM_CASES = [
    # (raw, finish_reason, verdict, failure, lenient?)
    ("<think>A is wrong</think>\n\\boxed{Assistant 2}", "stop", 2, None, False),
    ("<think>x</think>\\boxed{Assistant 1}", "stop", 1, None, False),
    # an earlier box inside the thinking must not win; the LAST box after </think> does
    (
        "<think>maybe \\boxed{Assistant 1}</think> final \\boxed{Assistant 1} no wait \\boxed{Assistant 2}",
        "stop",
        2,
        None,
        False,
    ),
    ("<think>x</think>\\boxed{\\text{Assistant 1}}", "stop", 1, None, True),
    ("<think>x</think>\\boxed{ Assistant 2 }", "stop", 2, None, True),
    ("<think>x</think>\\boxed{assistant  1}", "stop", 1, None, True),
    ("<think>x</think>\\boxed{2}", "stop", 2, None, True),
    ("<think>x</think>\\boxed{\\textbf{Assistant 2}.}", "stop", 2, None, True),
    # template already opened <think>: output starts inside the thinking
    ("the first is better\n</think>\n\\boxed{Assistant 1}", "stop", 1, None, False),
    ("<think>still thinking about it", "length", None, "truncated", False),
    ("<think>stopped early", "stop", None, "no_end_of_thinking", False),
    ("", "stop", None, "no_verdict", False),
    ("", "length", None, "truncated", False),
    ("<think>x</think> I prefer the first.", "stop", None, "no_verdict", False),
    ("<think>x</think> \\boxed{Assistant 3}", "stop", None, "invalid_label", False),
    ("<think>x</think> \\boxed{Assistant 1 and Assistant 2}", "stop", None, "ambiguous", False),
    ("<think>x</think> \\boxed{Assistant 1 or Assistant 2}", "stop", None, "ambiguous", False),
    ("<think>x</think> \\boxed{1, 2}", "stop", None, "ambiguous", False),
    # a plain mention of the other assistant on the closing line is deliberation, not a verdict
    ("<think>x</think> Assistant 1 is fluent but \\boxed{Assistant 2}", "stop", 2, None, False),
    (
        "<think>x</think> \\boxed{Assistant 1} looks right at first, but really \\boxed{Assistant 2}",
        "stop",
        2,
        None,
        False,
    ),
    ("<think>x</think> \\boxed{Assistant 1} or \\boxed{Assistant 2}", "stop", None, "ambiguous", False),
    (
        "<think>x</think> \\boxed{Assistant 1} and \\boxed{Assistant 2} are equally good",
        "stop",
        None,
        "ambiguous",
        False,
    ),
    ("<think>x</think> \\boxed{Assistant 2}, not \\boxed{Assistant 1}", "stop", 2, None, False),
    ("<think>x</think> \\boxed{Assistant 2} or \\boxed{Assistant 2}", "stop", 2, None, False),
    ("<think>x</think> \\boxed{Assistant 1", "stop", None, "no_verdict", False),  # unbalanced brace
]


@pytest.mark.parametrize("raw,finish,verdict,failure,lenient", RRM_CASES)
def test_rrm_boxed(raw, finish, verdict, failure, lenient):
    res = get_parser("rrm_boxed")(raw, finish)
    assert res.verdict == verdict
    assert res.failure == failure
    assert (res.lenient is not None) == lenient


BRACKET_CASES = [
    ("[[A]]", 1, None, False),
    ("[[B]]", 2, None, False),
    ("Assistant A is verbose. Final verdict: [[B]]", 2, None, False),
    ("First I thought [[A]].\nOn reflection: [[B]]", 2, None, False),
    # the published scripts check `"[[A]]" in text` first and read this as A. Under the old rule (any final line
    # naming both labels is ambiguous) this was `ambiguous`; the rule now is that a verdict right after "not" is
    # rejected by the text itself and skipped, so the judge's choice B binds.
    ("I pick [[B]], not [[A]]", 2, None, False),
    ("not [[A]] but [[B]]", 2, None, False),
    ("[[B]] rather than [[A]]", 2, None, False),
    ("[[A]] instead of [[B]]", 1, None, False),
    ("not [[A]]", None, "no_verdict", False),  # only a rejected label: no verdict, never a guess at the other
    # deliberation on the closing line: the verdict that closes the output binds
    ("[[A]] looks tempting at first, but on reflection my verdict is [[B]]", 2, None, False),
    ("Between [[A]] and [[B]], I choose [[B]]", 2, None, False),
    ("Between [[A]] and [[B]], I choose [[A]].", 1, None, False),
    ("[[A]]\n[[B]]", 2, None, False),  # a later line is a later statement
    ("[[A]] or [[B]]", None, "ambiguous", False),
    ("Final verdict: [[A]] or [[B]]", None, "ambiguous", False),
    ("[[A]] and [[B]] are equally good", None, "ambiguous", False),
    ("[[A]]/[[B]]", None, "ambiguous", False),
    ("[[A]], [[B]]", None, "ambiguous", False),
    ("[[A]] vs. [[B]]", None, "ambiguous", False),
    ("[[A]][[B]]", None, "ambiguous", False),
    ("hmm [[A]]\n[[A]] or [[B]]", None, "ambiguous", False),
    ("[[B]] and [[B]]", 2, None, False),  # the same label twice chooses it
    ("[[A or B]]", None, "ambiguous", False),
    ("[[A/B]]", None, "ambiguous", False),
    ("[[A]] or [[C]]", None, "ambiguous", False),
    ("[[ a ]]", 1, None, True),
    ("[[C]]", None, "invalid_label", False),
    ("no verdict here", None, "no_verdict", False),
    ("<think>hmm [[A]]</think>[[B]]", 2, None, False),
    ("<think>hmm [[A]] and on", None, "no_end_of_thinking", False),
]


@pytest.mark.parametrize("raw,verdict,failure,lenient", BRACKET_CASES)
def test_bracket_ab(raw, verdict, failure, lenient):
    res = get_parser("bracket_ab")(raw, "stop")
    assert (res.verdict, res.failure, res.lenient is not None) == (verdict, failure, lenient)


def test_bracket_abc_tie_is_a_verdict_not_a_failure():
    res = get_parser("bracket_abc")("Both are equally good. [[C]]", "stop")
    assert res.verdict == "tie" and res.failure is None


def test_bracket_truncated_without_verdict():
    assert get_parser("bracket_ab")("Assistant A starts well but", "length").failure == "truncated"


@pytest.mark.parametrize(
    "raw,verdict,failure",
    [
        ("\\boxed{Assistant 1}", 1, None),
        ("First \\boxed{Assistant 1}, finally \\boxed{Assistant 2}", 2, None),
        ("\\boxed{Assistant 1} / \\boxed{Assistant 2}", None, "ambiguous"),
        ("\\boxed{1}\n\\boxed{2}", 2, None),
    ],
)
def test_boxed_without_thinking(raw, verdict, failure):
    res = get_parser("boxed")(raw, "stop")
    assert (res.verdict, res.failure) == (verdict, failure)


def test_bracket_abc_connective_with_tie_is_ambiguous_but_deliberation_is_not():
    parse = get_parser("bracket_abc")
    assert parse("[[A]] or [[C]]", "stop").failure == "ambiguous"
    assert parse("[[A]] seemed better, but overall [[C]]", "stop").verdict == "tie"


def test_ambiguous_result_shows_the_closing_line():
    res = get_parser("bracket_ab")("Reasoning.\nFinal verdict: [[A]] or [[B]]\n", "stop")
    assert res.extracted == "Final verdict: [[A]] or [[B]]"
