"""`rrm-eval serve`: the run browser and the judge playground through FastAPI's TestClient (no network, no browser)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

import rrm_eval
from rrm_eval import PairwiseConfig, PairwiseRunConfig, TaskOptions, TournamentRunConfig
from rrm_eval.app import Playground, create_app
from rrm_eval.app._page import APP_JS, PAGE_HTML
from rrm_eval.cli import main
from rrm_eval.models import load_model

MATH8 = Path(__file__).parent / "fixtures" / "candidates" / "math8.jsonl"
PLANTED = "<script>window.__pwned=1</script><img src=x onerror=alert(1)>"


def make_runs(root: Path) -> Path:
    """A pairwise run (half its items judged wrong, a planted script in its data), a tournament, and bad folders."""
    rows = []
    for n in range(30):
        good_first = n % 3 != 0  # every third item: the marker sits on the rejected answer -> judged wrong
        rows.append(
            {
                "id": n,
                "subset": ["alpacaeval-easy", "math-prm"][n % 2],
                "prompt": f"Question {n} {PLANTED}",
                "chosen": f"GOOD answer {n}" if good_first else f"plain answer {n}",
                "rejected": f"poor answer {n}" if good_first else f"GOOD but wrong {n}",
            }
        )
    data = root / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    runs = root / "runs"
    rrm_eval.evaluate_pairwise(
        PairwiseRunConfig(
            model="scripted:marker",
            judge="rrm",
            task="rewardbench",
            task_options=TaskOptions(data=str(data)),
            protocol=PairwiseConfig(order="both"),
            output_dir=str(runs),
        )
    )
    # A judge that always answers "first": every item flips between its two orders.
    rrm_eval.evaluate_pairwise(
        PairwiseRunConfig(
            model="scripted:first",
            judge="skywork-critic",
            task="rewardbench",
            task_options=TaskOptions(data=str(data)),
            protocol=PairwiseConfig(order="both"),
            output_dir=str(runs),
        )
    )
    rrm_eval.run_tournament_eval(
        TournamentRunConfig(
            model="scripted:marker", judge="skywork-critic", candidates=(str(MATH8),), output_dir=str(runs), bootstrap=0
        )
    )
    (runs / "not-a-run").mkdir()
    (runs / "not-a-run" / "notes.txt").write_text("hello", encoding="utf-8")
    (runs / "unknown-kind").mkdir()
    (runs / "unknown-kind" / "spec.json").write_text(json.dumps({"kind": "telepathy"}), encoding="utf-8")
    bad = runs / "corrupt-summary"
    bad.mkdir()
    (bad / "spec.json").write_text(json.dumps({"kind": "pairwise", "judge": {"name": "rrm"}}), encoding="utf-8")
    (bad / "summary.json").write_text("{not json", encoding="utf-8")
    return runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_runs(tmp_path_factory.mktemp("app"))


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


@pytest.fixture(scope="module")
def client(runs: Path) -> TestClient:
    return TestClient(create_app(runs, Playground(load_model("scripted:marker"), "rrm", "scripted:marker")))


def _run_id(client: TestClient, kind: str, judge: str) -> str:
    return next(
        r["id"]
        for r in client.get("/api/runs").json()["runs"]
        if r["readable"] and (r["kind"], r["judge"]) == (kind, judge)
    )


def test_run_list_shows_every_folder_and_why_some_are_unreadable(client):
    runs = {r["id"]: r for r in client.get("/api/runs").json()["runs"]}
    assert len(runs) == 6
    pairwise = runs[_run_id(client, "pairwise", "rrm")]
    assert pairwise["readable"] and pairwise["task"] == "rewardbench" and pairwise["model"] == "scripted:marker"
    assert pairwise["items"] == 30 and pairwise["headline"] == pytest.approx(20 / 30)
    tournament = runs[_run_id(client, "tournament", "skywork-critic")]
    assert tournament["readable"] and tournament["items"] == 8 and "elo" in tournament["headline_name"]
    assert not runs["not-a-run"]["readable"] and "no spec.json" in runs["not-a-run"]["error"]
    assert "unknown kind 'telepathy'" in runs["unknown-kind"]["error"]
    assert "summary.json is corrupt" in runs["corrupt-summary"]["error"]
    # An unreadable run answers with a JSON reason, not a traceback page.
    res = client.get("/api/runs/corrupt-summary/records")
    assert res.status_code == 409 and "unreadable" in res.json()["error"]
    res = client.get("/api/runs/..%2F..%2Fetc/records")
    assert res.status_code == 404 and res.json()["error"]


def test_run_page_has_scores_and_report_figures(client):
    data = client.get(f"/api/runs/{_run_id(client, 'pairwise', 'rrm')}").json()
    names = {(r["group"], r["name"]) for r in data["scores"]}
    assert ("subset", "math-prm") in names and ("records", "position consistency") in names
    subset = next(r for r in data["scores"] if r["name"] == "math-prm")
    assert subset["lo"] is not None and subset["lo"] <= subset["value"] <= subset["hi"]
    assert data["facets"]["subsets"] == ["alpacaeval-easy", "math-prm"] and data["facets"]["has_flips"]
    if data["figures_available"]:
        assert data["figures"] and all(f["caption"] for f in data["figures"])
        svg = client.get(f"/api/runs/{data['run']['id']}/figures/0.svg")
        assert svg.headers["content-type"].startswith("image/svg+xml") and "<svg" in svg.text
        assert "script-src" not in svg.headers["content-security-policy"]  # an SVG opened alone runs no script


def test_record_filters_and_paging(client):
    rid = _run_id(client, "pairwise", "rrm")
    url = f"/api/runs/{rid}/records"
    everything = client.get(url, params={"limit": 500}).json()
    assert everything["total"] == everything["matched"] == 60
    wrong = client.get(url, params={"correct": "wrong", "limit": 500}).json()
    assert wrong["matched"] == 20 and {r["item_id"] for r in wrong["rows"]} == {str(n) for n in range(0, 30, 3)}
    sub = client.get(url, params={"subset": "math-prm", "correct": "correct", "limit": 500}).json()
    assert sub["matched"] == 20 and all(r["subset"] == "math-prm" for r in sub["rows"])
    assert client.get(url, params={"flip": "yes"}).json()["matched"] == 0  # the marker judge is order-blind
    assert client.get(url, params={"failure": "any"}).json()["matched"] == 0
    assert client.get(url, params={"q": "assistant 2"}).json()["matched"] == 30
    assert client.get(url, params={"q": "12"}).json()["matched"] == 2  # item id 12, both orders
    pages = [client.get(url, params={"offset": o, "limit": 25}).json()["rows"] for o in (0, 25, 50)]
    assert [len(p) for p in pages] == [25, 25, 10]
    assert [r["key"] for p in pages for r in p] == [r["key"] for r in everything["rows"]]
    first = _run_id(client, "pairwise", "skywork-critic")
    flips = client.get(f"/api/runs/{first}/records", params={"flip": "yes", "limit": 500}).json()
    assert flips["matched"] == 60  # "always the first" flips every item between its orders
    bad = client.get(url, params={"limit": 10_000})
    assert bad.status_code == 400 and "error" in bad.json()
    assert client.get(url, params={"correct": "maybe"}).status_code == 400


def test_record_view_folds_thinking_and_says_why(client):
    rid = _run_id(client, "pairwise", "rrm")
    view = client.get(f"/api/runs/{rid}/record", params={"key": "3|BA|0"}).json()
    rec = view["record"]
    assert rec["extracted"] == "Assistant 1" and rec["verdict"] == 1 and view["correct"] == "wrong"
    assert view["thinking"] == "Scripted reasoning." and view["answer"].startswith("\\boxed{Assistant 1}")
    assert "### Assistant 1" in rec["prompt"]
    missing = client.get(f"/api/runs/{rid}/record", params={"key": "nope"})
    assert missing.status_code == 404 and "no record" in missing.json()["error"]


def test_planted_script_is_data_in_json_and_the_page_never_parses_data_as_markup(client):
    rid = _run_id(client, "pairwise", "rrm")
    view = client.get(f"/api/runs/{rid}/record", params={"key": "0|AB|0"})
    assert view.headers["content-type"].startswith("application/json")
    assert PLANTED in view.json()["record"]["prompt"]  # the exact text, to be shown as text
    page = client.get("/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "connect-src 'self'" in csp
    for source in (PAGE_HTML, APP_JS, client.get("/app.js").text):
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function", source)
    assert "<script>" not in PAGE_HTML  # no inline script: the one script is /app.js
    assert "textContent" in APP_JS
    assert not re.search(r"https?://", APP_JS + PAGE_HTML)  # nothing loaded from another host


def test_playground_judges_both_orders_with_the_judge_parser(client):
    body = {"question": "Which is right?", "answer_a": "poor", "answer_b": "GOOD one", "judge": "rrm", "order": "both"}
    res = client.post("/api/playground", json=body)
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in res.text.splitlines() if line.startswith("data: ")]
    assert events[0]["event"] == "start" and events[0]["streamed"] == "replayed" and events[-1]["event"] == "done"
    verdicts = {e["order"]: e for e in events if e["event"] == "verdict"}
    assert set(verdicts) == {"AB", "BA"}
    assert verdicts["AB"]["verdict"] == 2 and verdicts["BA"]["verdict"] == 1  # positions differ ...
    assert verdicts["AB"]["prefers"] == verdicts["BA"]["prefers"] == "B"  # ... the answer does not
    assert verdicts["AB"]["extracted"] == "Assistant 2"
    text = "".join(e["text"] for e in events if e["event"] == "delta" and e["order"] == "AB")
    assert "<think>" in text and "\\boxed{Assistant 2}" in text
    assert len([e for e in events if e["event"] == "delta"]) > 2  # replayed in chunks
    # Another judge, one order: its own parser reads the [[A]]/[[B]] verdict.
    res = client.post("/api/playground", json={**body, "judge": "skywork-critic", "order": "BA"})
    verdicts = [json.loads(x[6:]) for x in res.text.splitlines() if x.startswith("data: ") and '"verdict"' in x]
    assert [(v["order"], v["extracted"], v["prefers"]) for v in verdicts] == [("BA", "[[A]]", "B")]


def test_playground_picks_a_row_from_a_run(client):
    rid = _run_id(client, "pairwise", "rrm")
    row = client.get(f"/api/runs/{rid}/items/4").json()
    assert row["question"].startswith("Question 4") and row["chosen"] == "GOOD answer 4"
    assert client.get(f"/api/runs/{rid}/items/999").status_code == 400


def test_playground_refusals_are_json(runs, client):
    bare = TestClient(create_app(runs))
    res = bare.post("/api/playground", json={"question": "q", "answer_a": "a", "answer_b": "b"})
    assert res.status_code == 409 and "no model is loaded" in res.json()["error"] and "--model" in res.json()["hint"]
    assert bare.get("/api/playground").json()["model"] is None
    empty = client.post("/api/playground", json={"question": " ", "answer_a": "a", "answer_b": "b"})
    assert empty.status_code == 400 and "question is empty" in empty.json()["error"]
    order = client.post("/api/playground", json={"question": "q", "answer_a": "a", "answer_b": "b", "order": "AC"})
    assert order.status_code == 400 and "unknown order" in order.json()["error"]
    other = client.post("/api/playground", json={"question": "q", "answer_a": "a", "answer_b": "b", "judge": "/etc/x"})
    assert other.status_code == 400 and "unknown judge" in other.json()["error"]
    assert client.post("/api/playground", content=b"not json").status_code == 422


def test_the_app_never_writes_into_run_directories(tmp_path):
    runs = make_runs(tmp_path)
    before = snapshot(runs)
    client = TestClient(create_app(runs, Playground(load_model("scripted:marker"), "rrm", "scripted:marker")))
    for run in client.get("/api/runs").json()["runs"]:
        client.get(f"/api/runs/{run['id']}")
        client.get(f"/api/runs/{run['id']}/records", params={"q": "GOOD"})
        client.get(f"/api/runs/{run['id']}/record", params={"key": "1|AB|0"})
        client.get(f"/api/runs/{run['id']}/figures/0.svg")
        client.get(f"/api/runs/{run['id']}/items/1")
    client.post("/api/playground", json={"question": "q", "answer_a": "GOOD", "answer_b": "b"})
    assert snapshot(runs) == before


def test_host_header_check_and_loopback_refusal(runs, capsys):
    guarded = TestClient(create_app(runs, allowed_hosts=["127.0.0.1"]), base_url="http://evil.example")
    res = guarded.get("/api/runs")
    assert res.status_code == 400 and "its own name" in res.json()["error"]
    assert main(["serve", str(runs), "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "not a loopback address" in err and "--allow-remote" in err and "Traceback" not in err
    assert main(["serve", str(runs / "nowhere")]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_internal_errors_are_json_not_tracebacks(runs, monkeypatch):
    import rrm_eval.app._server as server

    def boom(*a, **k):
        raise ZeroDivisionError("kaboom")

    monkeypatch.setattr(server, "score_table", boom)
    client = TestClient(create_app(runs), raise_server_exceptions=False)
    rid = next(r["id"] for r in client.get("/api/runs").json()["runs"] if r["readable"])
    res = client.get(f"/api/runs/{rid}")
    assert res.status_code == 500 and res.json()["error"].startswith("internal error: ZeroDivisionError")
    assert "Traceback" not in res.text
