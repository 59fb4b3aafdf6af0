"""Malformed data files and selections, each run through the CLI in-process: exit 2, ``error:`` naming the file,
a ``hint:`` line, and never a traceback (a user mistake must not look like a crash, nor be scored as data)."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest

from rrm_eval.cli import main

GOOD_ROW = {"id": 1, "subset": "alpacaeval-easy", "prompt": "Q?", "chosen": "yes", "rejected": "no"}
GOOD_LINE = json.dumps(GOOD_ROW)


def _jsonl(*lines: str) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


def _parquet_bytes(rows: list[dict] | None = None, empty_schema: bool = False) -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    if empty_schema:
        table = pa.table({"id": pa.array([], pa.int64()), "prompt": pa.array([], pa.string())})
    else:
        table = pa.Table.from_pylist(rows or [GOOD_ROW])
    pq.write_table(table, buf)
    return buf.getvalue()


def _truncated_parquet() -> bytes:
    data = _parquet_bytes([GOOD_ROW] * 50)
    return data[: len(data) // 2] + data[-8:]  # keeps the magic footer, loses the middle


# (case id, file name, content, expected fragment of the error line)
FILE_CASES: list[tuple[str, str, bytes, str]] = [
    # -- encodings ------------------------------------------------------------------------------------------------
    ("latin1-jsonl", "latin1.jsonl", ('{"id": 1, "prompt": "café"}\n').encode("latin-1"), "byte offset 24"),
    ("cp1252-json", "cp1252.json", '[{"prompt": "“quoted”"}]'.encode("cp1252"), "byte offset 13"),
    ("truncated-utf8", "cut.jsonl", _jsonl(GOOD_LINE) + '{"prompt": "€'.encode()[:-1], "not valid UTF-8"),
    ("utf16-bom-odd-length", "odd16.jsonl", codecs.BOM_UTF16_LE + GOOD_LINE.encode("utf-16-le") + b"\x00", "UTF-16"),
    ("utf16-without-bom", "nobom16.json", json.dumps([GOOD_ROW]).encode("utf-16-le"), "not valid JSON"),
    ("utf32-bom", "u32.json", json.dumps([GOOD_ROW]).encode("utf-32"), "not valid JSON"),
    ("binary-garbage", "junk.json", bytes(range(128, 256)), "byte offset 0"),
    # -- JSON that is not a list of objects -----------------------------------------------------------------------
    ("json-number", "num.json", b"42", "holds a number"),
    ("json-string", "str.json", b'"hello"', "holds a string"),
    ("json-null", "null.json", b"null", "holds null"),
    ("json-bool", "bool.json", b"true", "holds a boolean"),
    ("json-list-with-number", "mixed.json", json.dumps([GOOD_ROW, 3]).encode(), "row 1 (index 1"),
    ("json-list-of-lists", "lists.json", b"[[1, 2], [3]]", "row 0 (index 0"),
    ("json-list-with-null", "nulls.json", json.dumps([GOOD_ROW, GOOD_ROW, None]).encode(), "index 2"),
    ("json-rows-not-list", "rows.json", b'{"rows": 5}', "'rows' is a number"),
    ("json-rows-with-string", "rows2.json", b'{"rows": ["a"]}', "row 0"),
    ("json-columns-unequal", "cols.json", b'{"id": [1, 2], "prompt": ["a"]}', "unequal lengths"),
    ("json-column-not-list", "cols2.json", b'{"id": [1], "prompt": "a"}', "column 'prompt' is a string"),
    ("json-syntax", "syntax.json", b'[{"id": 1,}]', "not valid JSON"),
    ("json-deep", "deep.json", b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ("json-huge-int", "bigint.json", b'[{"id": ' + b"9" * 5000 + b"}]", "not valid JSON"),
    # -- JSON Lines lines that are not objects --------------------------------------------------------------------
    ("jsonl-line-list", "list.jsonl", _jsonl(GOOD_LINE, "[1, 2]"), "line 2 is a list"),
    ("jsonl-line-number", "num.jsonl", _jsonl(GOOD_LINE, "", "7"), "line 3 is a number"),
    ("jsonl-line-string", "str.jsonl", _jsonl('"row"'), "line 1 is a string"),
    ("jsonl-line-null", "null.jsonl", _jsonl(GOOD_LINE, "null"), "line 2 is null"),
    ("jsonl-bad-line", "bad.jsonl", _jsonl(GOOD_LINE, "{oops"), "line 2 is not valid JSON"),
    # -- empty files ----------------------------------------------------------------------------------------------
    ("empty-jsonl", "empty.jsonl", b"", "holds no rows"),
    ("blank-jsonl", "blank.jsonl", b"\n  \n\n", "holds no rows"),
    ("empty-json", "empty.json", b"", "is empty"),
    ("blank-json", "blank.json", b"   \n", "is empty"),
    ("json-empty-list", "none.json", b"[]", "holds no rows"),
    ("json-empty-object", "obj.json", b"{}", "holds no rows"),
    ("json-empty-rows", "rows3.json", b'{"rows": []}', "holds no rows"),
    ("json-empty-columns", "cols3.json", b'{"id": [], "prompt": []}', "holds no rows"),
    ("bom-only-jsonl", "bom.jsonl", codecs.BOM_UTF8, "holds no rows"),
    ("parquet-no-rows", "none.parquet", _parquet_bytes(empty_schema=True), "holds no rows"),
    # -- not parquet ----------------------------------------------------------------------------------------------
    ("parquet-text", "text.parquet", b"id,prompt\n1,hello\n", "cannot read it as parquet"),
    ("parquet-empty-file", "zero.parquet", b"", "cannot read it as parquet"),
    ("parquet-json", "json.parquet", json.dumps([GOOD_ROW]).encode(), "cannot read it as parquet"),
    ("parquet-truncated", "cut.parquet", _truncated_parquet(), "cannot read it as parquet"),
    # -- other file problems --------------------------------------------------------------------------------------
    ("csv-suffix", "data.csv", b"id,prompt\n1,a\n", "unsupported file type"),
    ("row-field-wrong-type", "types.jsonl", _jsonl(json.dumps({**GOOD_ROW, "chosen": 5})), "field 'chosen'"),
    ("row-missing-id", "noid.jsonl", _jsonl(json.dumps({k: v for k, v in GOOD_ROW.items() if k != "id"})), "'id'"),
]


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


def assert_user_error(code: int, err: str, named: str, fragment: str) -> None:
    assert code == 2, err
    assert err.startswith("error:"), err
    assert "Traceback" not in err, err
    message, _, rest = err.partition("\nhint:")
    assert rest.strip(), f"no hint line in {err!r}"
    assert named in message, f"{named!r} not in {message!r}"
    assert fragment in message, f"{fragment!r} not in {message!r}"


def pairwise_args(tmp_path: Path, data: Path | str, *extra: str) -> list[str]:
    return [
        "pairwise",
        "--data",
        str(data),
        "--model",
        "scripted:first",
        "--quiet",
        "--output-dir",
        str(tmp_path / "runs"),
        *extra,
    ]


@pytest.mark.parametrize("name,content,fragment", [c[1:] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES])
def test_bad_data_file(tmp_path, capsys, name, content, fragment):
    path = tmp_path / name
    path.write_bytes(content)
    code, err = run_cli(pairwise_args(tmp_path, path), capsys)
    assert_user_error(code, err, name, fragment)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir()), "a run was started"


@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    rows = [{**GOOD_ROW, "id": n, "subset": ("alpacaeval-easy", "hep-go")[n % 2]} for n in range(4)]
    path = tmp_path / "good.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# (case id, extra CLI arguments, what the message must name, expected fragment, expected fragment of the hint)
SELECTION_CASES = [
    ("subset-without-rows", ["--subsets", "math-prm"], "good.jsonl", "leaves no items", "alpacaeval-easy, hep-go"),
    ("subsets-without-rows", ["--subsets", "math-prm,donotanswer"], "good.jsonl", "leaves no items", "hep-go"),
    ("unknown-subset", ["--subsets", "hep-goo"], "hep-goo", "unknown subset", "did you mean 'hep-go'"),
]


@pytest.mark.parametrize(
    "extra,named,fragment,hint", [c[1:] for c in SELECTION_CASES], ids=[c[0] for c in SELECTION_CASES]
)
def test_bad_selection(tmp_path, capsys, good_file, extra, named, fragment, hint):
    code, err = run_cli(pairwise_args(tmp_path, good_file, *extra), capsys)
    assert_user_error(code, err, named, fragment)
    assert hint in err.partition("\nhint:")[2]


@pytest.mark.parametrize("limit", ["0", "-3"])
def test_limit_below_one_is_a_usage_error(tmp_path, capsys, good_file, limit):
    """The CLI refuses it as a usage error (argparse: exit 2, names --limit); never a traceback, never a run."""
    try:
        code = main(pairwise_args(tmp_path, good_file, "--limit", limit))
    except SystemExit as exc:  # argparse's own usage error
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == 2 and "--limit" in err and limit in err and "Traceback" not in err, err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("limit", [0, -3])
def test_limit_below_one_is_refused_by_the_task_too(good_file, limit):
    """Callers of the library (not only the CLI) get an RRMError with a hint, before the data is read."""
    from rrm_eval._errors import RRMError
    from rrm_eval.tasks import TaskOptions, get_task

    with pytest.raises(RRMError, match="--limit must be a whole number of at least 1") as exc:
        get_task("rewardbench").load(TaskOptions(data=str(good_file), limit=limit))
    assert exc.value.hint and "N >= 1" in exc.value.hint


def test_every_row_dropped_by_skip_bad_rows(tmp_path, capsys):
    path = tmp_path / "allbad.jsonl"
    path.write_bytes(_jsonl(json.dumps({**GOOD_ROW, "chosen": ""}), json.dumps({**GOOD_ROW, "id": 2, "prompt": 3})))
    code, err = run_cli(pairwise_args(tmp_path, path, "--skip-bad-rows"), capsys)
    assert_user_error(code, err, "allbad.jsonl", "all 2 rows were dropped")


@pytest.mark.parametrize("task", ["my.jsonl", "data/pairs.parquet", "rows.json"])
def test_data_file_given_as_task_name(tmp_path, capsys, task):
    code, err = run_cli(["pairwise", "--dataset", task, "--model", "scripted:first", "--quiet"], capsys)
    assert_user_error(code, err, task, "looks like a data file")
    hint = err.partition("\nhint:")[2]
    assert f"--data {task}" in hint and "rewardbench" in hint  # the did-you-mean list of task names is kept


def test_existing_file_given_as_task_name(tmp_path, capsys, good_file):
    code, err = run_cli(["pairwise", "--dataset", str(good_file), "--model", "scripted:first", "--quiet"], capsys)
    assert_user_error(code, err, "good.jsonl", "looks like a data file")


def test_data_path_is_a_directory(tmp_path, capsys):
    folder = tmp_path / "folder.jsonl"
    folder.mkdir()
    code, err = run_cli(pairwise_args(tmp_path, folder), capsys)
    assert_user_error(code, err, "folder.jsonl", "is a directory")


def test_missing_data_file(tmp_path, capsys):
    code, err = run_cli(pairwise_args(tmp_path, tmp_path / "nope.jsonl"), capsys)
    assert_user_error(code, err, "nope.jsonl", "does not exist")


# -- what must keep working ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: codecs.BOM_UTF8 + text.encode("utf-8"),
        lambda text: text.encode("utf-16"),  # Python writes the BOM
        lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
    ],
    ids=["utf8-bom", "utf16-le-bom", "utf16-be-bom"],
)
@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_bom_encodings_are_read(tmp_path, encode, suffix):
    from rrm_eval.tasks import read_rows

    rows = [{**GOOD_ROW, "prompt": "café ✓"}, {**GOOD_ROW, "id": 2}]
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows) if suffix == ".jsonl" else json.dumps(rows)
    path = tmp_path / f"rows{suffix}"
    path.write_bytes(encode(text))
    assert read_rows(path) == rows


def test_column_json_and_rows_wrapper_are_read(tmp_path):
    from rrm_eval.tasks import read_rows

    cols = tmp_path / "cols.json"
    cols.write_text(json.dumps({"id": [1, 2], "prompt": ["a", "b"]}))
    assert read_rows(cols) == [{"id": 1, "prompt": "a"}, {"id": 2, "prompt": "b"}]
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"rows": [GOOD_ROW]}))
    assert read_rows(wrapped) == [GOOD_ROW]
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert read_rows(empty, allow_empty=True) == []


def test_good_file_still_runs(tmp_path, capsys, good_file):
    code, err = run_cli(pairwise_args(tmp_path, good_file, "--subsets", "hep-go", "--limit", "1"), capsys)
    assert code == 0, err
