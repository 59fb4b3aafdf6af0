"""The OpenAI-compatible driver against real servers on 127.0.0.1, through a fault-injecting proxy of our own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from contract._engines import SERVED, FaultProxy, installed, serve, smollm2_folder

from rrm_eval import PairwiseRunConfig, evaluate_pairwise
from rrm_eval._errors import RRMError
from rrm_eval.models import GenerateRequest, SamplingParams, load_model
from rrm_eval.protocols import PairwiseConfig
from rrm_eval.runs import load_records
from rrm_eval.tasks import TaskOptions

pytestmark = pytest.mark.server
KINDS = [
    pytest.param("vllm", marks=pytest.mark.vllm, id="vllm"),
    pytest.param("llamacpp", marks=pytest.mark.llamacpp, id="llamacpp"),
]
MODULES = {"vllm": "vllm", "llamacpp": "llama_cpp.server"}


@pytest.fixture(scope="module", params=KINDS)
def server(request: pytest.FixtureRequest) -> Any:
    if not installed(MODULES[request.param]):
        pytest.skip(f"{request.param} is not installed here (scripts/setup_engines.sh builds a venv with it)")
    with serve(request.param) as url:
        yield url


def options(**extra: Any) -> dict[str, Any]:
    return {"tokenizer": str(smollm2_folder()), "max_model_len": 2048, **extra}


def prompts(model: Any, count: int) -> list[GenerateRequest]:
    questions = [f"Give me one word that rhymes with {w}." for w in ("cat", "tree", "blue", "rain", "light", "stone")]
    return [
        GenerateRequest(model.render([{"role": "user", "content": q}]), key=f"q{i}")
        for i, q in enumerate(questions[:count])
    ]


def test_retries_through_faults_lose_nothing(server: str) -> None:
    params = SamplingParams(max_new_tokens=8)
    direct = load_model(f"openai:{server}#{SERVED}", **options())
    want = [[c.text for c in g] for g in direct.generate(prompts(direct, 6), params)]
    proxy = FaultProxy(server, ["drop", "ok", "500", "ok", "slow", "ok", "429", "ok", "503", "ok"], slow_s=3.0)
    try:
        model = load_model(
            f"openai:{proxy.url}#{SERVED}", **options(timeout=1.5, backoff=0.01, max_retries=8, max_concurrency=3)
        )
        got = model.generate(prompts(model, 6), params)
    finally:
        proxy.close()
    assert [[c.text for c in g] for g in got] == want
    assert all(c.error is None for g in got for c in g)
    for fault in ("drop", "500", "slow", "429", "503"):
        assert proxy.seen[fault] >= 1, proxy.seen


def test_sampling_honours_n_and_seed(server: str) -> None:
    model = load_model(f"openai:{server}#{SERVED}", **options())
    reqs = prompts(model, 2)
    params = SamplingParams(max_new_tokens=8, temperature=1.0, n=3, seed=5)
    a, b = model.generate(reqs, params), model.generate(reqs, params)
    assert [len(g) for g in a] == [3, 3]
    assert [[c.text for c in g] for g in a] == [[c.text for c in g] for g in b]
    assert len({c.text for g in a for c in g}) > 1


def test_dead_server_stops_the_run_and_keeps_finished_records(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RRM_TEST_KEY", "sk-test-NEVER-WRITTEN")
    proxy = FaultProxy(server, ["ok"], die_after=4)  # 4 requests answered, then nothing
    cfg = PairwiseRunConfig(
        model=f"openai:{proxy.url}#{SERVED}",
        judge="skywork-critic",
        task="rewardbench-sample",
        task_options=TaskOptions(limit=6),
        protocol=PairwiseConfig(max_new_tokens=8),
        model_options=options(max_retries=2, backoff=0.01, chunk_size=1, max_concurrency=1, api_key_env="RRM_TEST_KEY"),
        run_dir=str(tmp_path / "run"),
    )
    try:
        with pytest.raises(RRMError) as err:
            evaluate_pairwise(cfg)
        assert "no answer after 3 tries" in err.value.message
        kept = load_records(tmp_path / "run" / "records.jsonl")
        # /models + 3 answers (one fewer on servers whose first id prompt is refused and re-sent as text)
        assert len(kept) in (2, 3)
        proxy.dead = False  # the server is back: the same command resumes
        outcome = evaluate_pairwise(cfg)
    finally:
        proxy.close()
    records = load_records(outcome.run_dir / "records.jsonl")
    assert len(records) == 6 and outcome.reused == len(kept)
    assert records[: len(kept)] == kept
    assert "Bearer sk-test-NEVER-WRITTEN" in proxy.auth_headers
    for path in outcome.run_dir.iterdir():
        assert "sk-test-NEVER-WRITTEN" not in path.read_text(encoding="utf-8"), path.name
