"""Malformed judge files, each run through the CLI in-process: exit 2, ``error:`` naming the file, a ``hint:`` line,
no traceback, and no run started (a broken judge must fail at load time, not hours into a run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rrm_eval.cli import main

USER = 'user = "Q: {question}\\nA1: {answer_1}\\nA2: {answer_2}"'
HEAD = f'name = "mine"\nparser = "bracket_ab"\n{USER}\n'


def judge(body: str = "", head: str = HEAD) -> bytes:
    return (head + body).encode("utf-8")


# (case id, judge file text, expected fragment of the error message, expected fragment of the hint or "")
CASES: list[tuple[str, bytes, str, str]] = [
    # -- file level -----------------------------------------------------------------------------------------------
    ("toml-syntax", b'name = "x\nuser = 1', "judge file", "TOML syntax"),
    ("toml-duplicate-key", judge('name = "again"\n'), "judge file", "TOML syntax"),
    ("latin1-bytes", judge('description = "café"\n').replace("é".encode(), b"\xe9"), "not valid UTF-8", "UTF-8"),
    ("huge-int", judge("[sampling]\nmax_new_tokens = " + "9" * 5000 + "\n"), "judge file", "TOML"),
    ("unknown-key", judge('parsr = "boxed"\n'), "unknown key 'parsr'", "did you mean 'parser'"),
    # -- value types ----------------------------------------------------------------------------------------------
    ("name-number", judge(head=f"name = 3\n{USER}\nparser = 'boxed'\n"), "'name' must be a string", ""),
    ("name-missing", judge(head=f"{USER}\nparser = 'boxed'\n"), "'name' is missing", "name ="),
    ("name-empty", judge(head=f"name = '  '\n{USER}\nparser = 'boxed'\n"), "'name' is empty", ""),
    ("description-array", judge("description = [1]\n"), "'description' must be a string, not an array", ""),
    ("system-number", judge("system = 5\n"), "'system' must be a string, not a number", ""),
    ("user-bool", judge(head="name = 'x'\nparser = 'boxed'\nuser = true\n"), "'user' must be a string", ""),
    ("user-empty", judge(head="name = 'x'\nparser = 'boxed'\nuser = ''\n"), "'user' (the prompt template)", ""),
    ("user-missing", judge(head="name = 'x'\nparser = 'boxed'\n"), "'user' (the prompt template)", "prompt_from"),
    ("parser-number", judge(head=f"name = 'x'\n{USER}\nparser = 1\n"), "'parser' must be a string", ""),
    ("parser-unknown", judge(head=f"name = 'x'\n{USER}\nparser = 'braket_ab'\n"), "unknown parser", "bracket_ab"),
    ("parser-missing", judge(head=f"name = 'x'\n{USER}\n"), "needs a 'parser'", "rrm_boxed"),
    ("logprob-bad-parser", judge("mode = 'logprob'\n", head=f"name = 'x'\n{USER}\nparser = 'x'\n"), "parser", ""),
    ("mode-typo", judge('mode = "generat"\n'), "unknown mode 'generat'", "did you mean 'generate'"),
    ("mode-number", judge("mode = 2\n"), "'mode' must be a string, not a number", ""),
    ("mode-table", judge("[mode]\nx = 1\n"), "'mode' must be a string, not a table", ""),
    ("date-value", judge("description = 1979-05-27\n"), "'description' must be a string, not a date", ""),
    # -- labels ---------------------------------------------------------------------------------------------------
    ("labels-string", judge('labels = "[[A]]"\n'), "'labels' must be an array of exactly two", ""),
    ("labels-one", judge('labels = ["[[A]]"]\n'), "got 1 values", ""),
    ("labels-three", judge('labels = ["[[A]]", "[[B]]", "[[C]]"]\n'), "got 3 values", ""),
    ("labels-same", judge('labels = ["[[A]]", "[[A]]"]\n'), "the two 'labels' are the same", "two different"),
    ("labels-empty", judge('labels = ["[[A]]", ""]\n'), "entry 2 must be a non-empty string", ""),
    ("labels-number", judge('labels = ["[[A]]", 2]\n'), "entry 2 must be a non-empty string, not a number", ""),
    # -- [sampling] -----------------------------------------------------------------------------------------------
    ("sampling-not-table", judge("sampling = 3\n"), "'sampling' must be a [sampling] table", "[sampling]"),
    ("sampling-array", judge("sampling = [1, 2]\n"), "not an array", "[sampling]"),
    ("sampling-unknown", judge("[sampling]\ntemprature = 0.5\n"), "unknown [sampling] key", "did you mean"),
    ("temperature-string", judge('[sampling]\ntemperature = "hot"\n'), "temperature must be a number", ">= 0"),
    ("temperature-bool", judge("[sampling]\ntemperature = true\n"), "not a boolean", ""),
    ("temperature-negative", judge("[sampling]\ntemperature = -0.5\n"), "must be >= 0", ""),
    ("temperature-nan", judge("[sampling]\ntemperature = nan\n"), "finite number", ""),
    ("temperature-inf", judge("[sampling]\ntemperature = inf\n"), "finite number", ""),
    ("top-p-zero", judge("[sampling]\ntop_p = 0\n"), "top_p must be in (0, 1]", ""),
    ("top-p-big", judge("[sampling]\ntop_p = 1.5\n"), "top_p must be in (0, 1]", ""),
    ("top-p-bool", judge("[sampling]\ntop_p = false\n"), "top_p must be a number, not a boolean", ""),
    ("max-tokens-zero", judge("[sampling]\nmax_new_tokens = 0\n"), "max_new_tokens must be at least 1", ""),
    ("max-tokens-float", judge("[sampling]\nmax_new_tokens = 12.5\n"), "must be a whole number", ""),
    ("max-tokens-bool", judge("[sampling]\nmax_new_tokens = true\n"), "not a boolean", ""),
    ("max-tokens-string", judge('[sampling]\nmax_new_tokens = "16"\n'), "not a string", ""),
    # -- templates ------------------------------------------------------------------------------------------------
    (
        "placeholder-typo",
        judge(head="name = 'x'\nparser = 'boxed'\nuser = '{question} {answer1} {answer_2}'\n"),
        "unknown placeholder '{answer1}'",
        "did you mean 'answer_1'",
    ),
    (
        "placeholder-unknown",
        judge(head="name = 'x'\nparser = 'boxed'\nuser = '{context} {answer_1} {answer_2}'\n"),
        "unknown placeholder '{context}'",
        "{question}, {answer_1}, {answer_2}",
    ),
    (
        "unescaped-boxed",
        judge(head="name = 'x'\nparser = 'boxed'\nuser = '{answer_1} {answer_2} answer \\boxed{Assistant 1}'\n"),
        "unknown placeholder '{Assistant 1}'",
        "literal braces",
    ),
    (
        "lone-brace",
        judge(head="name = 'x'\nparser = 'boxed'\nuser = '{answer_1} {answer_2} a { b'\n"),
        "lone '{'",
        "write {{",
    ),
    (
        "lone-closing-brace",
        judge(head="name = 'x'\nparser = 'boxed'\nuser = '''{answer_1}\n{answer_2} }'''\n"),
        "lone '}' on line 2",
        "write }}",
    ),
    (
        "missing-answer-2",
        judge(head="name = 'x'\nparser = 'boxed'\nuser = '{question} {answer_1}'\n"),
        "never shows {answer_2}",
        "both answers",
    ),
    (
        "missing-both-answers",
        judge(head="name = 'x'\nparser = 'boxed'\nuser = 'Judge {question}'\n"),
        "never shows {answer_1} or {answer_2}",
        "",
    ),
    ("escaped-answer-only", judge(head="name='x'\nparser='boxed'\nuser='{{answer_1}} {answer_2}'\n"), "answer_1", ""),
    ("system-placeholder", judge("system = 'Be fair to {model}.'\n"), "'system' uses the unknown placeholder", ""),
    # -- prompt_from ----------------------------------------------------------------------------------------------
    ("prompt-from-number", judge("prompt_from = 5\n"), "'prompt_from' must be a string", ""),
    ("prompt-from-unknown", judge("prompt_from = 'skywork'\n"), "prompt_from: unknown judge 'skywork'", "did you"),
    ("prompt-from-missing-file", judge("prompt_from = 'nope.toml'\n"), "nope.toml", "path"),
]


def run_judge(tmp_path: Path, judge_path: Path | str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    args = ["pairwise", "--judge", str(judge_path), "--model", "scripted:first", "--quiet"]
    code = main([*args, "--output-dir", str(tmp_path / "runs")])
    return code, capsys.readouterr().err


def assert_user_error(code: int, err: str, named: str, fragment: str, hint: str = "") -> None:
    assert code == 2, err
    assert err.startswith("error:"), err
    assert "Traceback" not in err, err
    message, _, rest = err.partition("\nhint:")
    assert rest.strip(), f"no hint line in {err!r}"
    assert named in message, f"{named!r} not in {message!r}"
    assert fragment in message, f"{fragment!r} not in {message!r}"
    assert hint in rest, f"{hint!r} not in the hint {rest!r}"


@pytest.mark.parametrize("content,fragment,hint", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_judge_file(tmp_path, capsys, content, fragment, hint):
    path = tmp_path / "bad-judge.toml"
    path.write_bytes(content)
    code, err = run_judge(tmp_path, path, capsys)
    assert_user_error(code, err, "bad-judge.toml", fragment, hint)
    assert not (tmp_path / "runs").exists(), "a run was started"


def test_prompt_from_self_cycle(tmp_path, capsys):
    path = tmp_path / "self.toml"
    path.write_text("name = 'self'\nparser = 'boxed'\nprompt_from = 'self.toml'\n")
    code, err = run_judge(tmp_path, path, capsys)
    assert_user_error(code, err, "self.toml", "prompt_from cycle: self.toml -> self.toml")


def test_prompt_from_two_file_cycle(tmp_path, capsys):
    (tmp_path / "a.toml").write_text("name = 'a'\nparser = 'boxed'\nprompt_from = 'b.toml'\n")
    (tmp_path / "b.toml").write_text(f"name = 'b'\nparser = 'boxed'\nprompt_from = '{tmp_path / 'a.toml'}'\n")
    code, err = run_judge(tmp_path, tmp_path / "a.toml", capsys)
    assert_user_error(code, err, "a.toml", "prompt_from cycle: a.toml -> b.toml -> a.toml")


def test_prompt_from_three_file_cycle(tmp_path, capsys):
    for me, base in (("a", "b"), ("b", "c"), ("c", "a")):
        (tmp_path / f"{me}.toml").write_text(f"name = '{me}'\nparser = 'boxed'\nprompt_from = '{base}.toml'\n")
    code, err = run_judge(tmp_path, tmp_path / "b.toml", capsys)
    assert_user_error(code, err, "b.toml", "b.toml -> c.toml -> a.toml -> b.toml")


def test_judge_path_is_a_directory(tmp_path, capsys):
    folder = tmp_path / "judges.toml"
    folder.mkdir()
    code, err = run_judge(tmp_path, folder, capsys)
    assert_user_error(code, err, "judges.toml", "is a directory")


def test_missing_judge_file(tmp_path, capsys):
    code, err = run_judge(tmp_path, tmp_path / "gone.toml", capsys)
    assert_user_error(code, err, "gone.toml", "does not exist")


def test_unknown_builtin_judge_name(tmp_path, capsys):
    code, err = run_judge(tmp_path, "skywork", capsys)
    assert_user_error(code, err, "skywork", "unknown judge", "skywork-critic")


# -- what must keep working ----------------------------------------------------------------------------------------


def test_valid_judge_file_loads_with_escapes_inheritance_and_bom(tmp_path):
    from rrm_eval.judges import JUDGE_MODE_NAMES, load_judge

    assert JUDGE_MODE_NAMES == ("generate", "logprob", "reason", "listwise", "rating")
    path = tmp_path / "ok.toml"
    body = (
        "name = 'ok'\nparser = 'rrm_boxed'\nlabels = ['Assistant 1', 'Assistant 2']\n"
        "system = 'Answer with \\boxed{{Assistant 1}}.'\n"
        "user = '{question}|{answer_1}|{answer_2}|{{literal}}'\n[sampling]\ntemperature = 1\nmax_new_tokens = 8\n"
    )
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    j = load_judge(str(path))
    assert j.sampling.temperature == 1.0 and isinstance(j.sampling.temperature, float)
    msgs = j.messages("Q {answer_2}", "one", "two")
    assert msgs[0]["content"] == "Answer with \\boxed{Assistant 1}."
    assert msgs[1]["content"] == "Q {answer_2}|one|two|{literal}"  # answers are never re-substituted
    child = tmp_path / "child.toml"
    child.write_text("name = 'child'\nmode = 'logprob'\nprompt_from = 'ok.toml'\n")
    inherited = load_judge(str(child))
    assert (inherited.user, inherited.system, inherited.parser) == (j.user, j.system, "none")
