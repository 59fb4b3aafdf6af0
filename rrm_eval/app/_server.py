"""The FastAPI app of ``rrm-eval serve``: a JSON API over the run browser and the playground, and one small page.

Every piece of model or data text leaves as JSON and is put into the page with ``textContent``; the page's
Content-Security-Policy allows only its own script file, so even text that slipped into markup could not run.
Errors are JSON ``{"error", "hint"}``, never a traceback page.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rrm_eval._errors import RRMError, require
from rrm_eval.app._figures import report_available, run_figures
from rrm_eval.app._page import APP_CSS, APP_JS, PAGE_HTML
from rrm_eval.app._playground import Playground, PlaygroundInput
from rrm_eval.app._runs import (
    MAX_PAGE,
    Filters,
    ItemSource,
    RunIndex,
    RunInfo,
    facets,
    list_runs,
    page,
    record_view,
    score_table,
)

if TYPE_CHECKING:  # the app extra is optional at run time; for the type checker FastAPI's own types type the routes
    from fastapi import FastAPI

#: Only this origin: no inline script, no other host (the page makes no request elsewhere).
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
#: A figure opened on its own: drawing only, no script.
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'"


class ApiError(Exception):
    def __init__(self, status: int, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.hint = status, message, hint


def create_app(
    runs_dir: str | Path,
    playground: Playground | None = None,
    allowed_hosts: list[str] | None = None,
) -> Any:
    """The app over ``runs_dir`` (read-only). ``playground`` holds the loaded model (None: the playground refuses).
    ``allowed_hosts``: Host headers accepted (a loopback server passes its own names, against DNS rebinding)."""
    fastapi = require("fastapi", "app", "rrm-eval serve")
    responses = require("fastapi.responses", "app", "rrm-eval serve")
    exceptions = require("fastapi.exceptions", "app", "rrm-eval serve")
    # Starlette's own (a path that matches no route) is the base of FastAPI's: handling it covers both.
    http_exception = require("starlette.exceptions", "app", "rrm-eval serve").HTTPException
    JSONResponse, Response, StreamingResponse = responses.JSONResponse, responses.Response, responses.StreamingResponse

    root = Path(runs_dir)
    play = playground or Playground(None, None)
    index, items = RunIndex(), ItemSource()
    app: FastAPI = fastapi.FastAPI(title="rrm-eval", docs_url=None, redoc_url=None, openapi_url=None)

    def error_json(status: int, message: str, hint: str | None = None) -> Any:
        return JSONResponse({"error": message, "hint": hint}, status_code=status)

    @app.exception_handler(ApiError)
    async def _api_error(request: Any, exc: ApiError) -> Any:
        return error_json(exc.status, exc.message, exc.hint)

    @app.exception_handler(RRMError)
    async def _rrm_error(request: Any, exc: RRMError) -> Any:
        return error_json(400, exc.message, exc.hint)

    @app.exception_handler(exceptions.RequestValidationError)
    async def _bad_request(request: Any, exc: Any) -> Any:
        where = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in exc.errors())
        return error_json(422, f"bad request: {where}")

    @app.exception_handler(http_exception)
    async def _http_error(request: Any, exc: Any) -> Any:
        return error_json(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _internal(request: Any, exc: Exception) -> Any:
        traceback.print_exception(exc)  # to the server's terminal, never to the page
        return error_json(500, f"internal error: {type(exc).__name__}: {exc}", "see the server's terminal")

    @app.middleware("http")
    async def _headers(request: Any, call_next: Any) -> Any:
        if allowed_hosts is not None and request.headers.get("host", "").rsplit(":", 1)[0] not in allowed_hosts:
            return error_json(400, "this server answers only requests addressed to it by its own name")
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    def run_info(run_id: str) -> RunInfo:
        # Only names the listing produced: a run id is never joined onto a path.
        for info in list_runs(root):
            if info.id == run_id:
                if info.error:
                    raise ApiError(409, f"run {run_id} is unreadable: {info.error}")
                return info
        raise ApiError(404, f"no run {run_id!r} under {root}", "pick a run from the list")

    def peers_of(info: RunInfo) -> list[Path]:
        """Runs of the same runs directory that a cross-run figure of ``info`` compares it with, picked from the
        specs alone (so a run page never reads every run's records): tournaments on the same candidates, pairwise
        runs of the same task, data, judge and model with other --votes."""
        if info.kind not in ("tournament", "pairwise"):
            return []

        def key(i: RunInfo) -> tuple[Any, ...]:
            spec = i.spec
            if i.kind == "tournament":
                return ("tournament", (spec.get("candidates") or {}).get("data_fingerprint"))
            task = spec.get("task")
            task = task if isinstance(task, dict) else {}
            return ("pairwise", task.get("name"), task.get("data_fingerprint"), i.judge, i.model)

        def votes(i: RunInfo) -> Any:
            return (i.spec.get("protocol") or {}).get("votes", 1)

        mine = key(info)
        peers = [i for i in list_runs(root) if not i.error and i.path != info.path and i.kind == info.kind]
        peers = [i for i in peers if key(i) == mine and mine[1] is not None]
        if info.kind == "pairwise" and all(votes(i) == votes(info) for i in peers):
            return []  # nothing differs in --votes: no votes figure to draw
        return [i.path for i in peers]

    @app.get("/")
    def _page() -> Any:
        return Response(PAGE_HTML, media_type="text/html; charset=utf-8")

    @app.get("/app.js")
    def _js() -> Any:
        return Response(APP_JS, media_type="text/javascript; charset=utf-8")

    @app.get("/favicon.ico")
    def _favicon() -> Any:
        return Response(status_code=204)  # no icon; answering keeps the browser console free of a 404

    @app.get("/app.css")
    def _css() -> Any:
        return Response(APP_CSS, media_type="text/css; charset=utf-8")

    @app.get("/api/runs")
    def _runs() -> Any:
        return {"runs_dir": str(root), "runs": [i.brief() for i in list_runs(root)], "figures": report_available()}

    @app.get("/api/runs/{run_id}")
    def _run(run_id: str) -> Any:
        info = run_info(run_id)
        rows = index.rows(info)
        try:
            figures = [
                {"index": n, "caption": f["caption"], "title": f["title"]}
                for n, f in enumerate(run_figures(info.path, peers_of(info)))
            ]
            figure_error = None
        except RRMError as exc:
            figures, figure_error = [], exc.message
        except Exception as exc:  # a figure that fails must not hide the run: say why instead
            traceback.print_exception(exc)
            figures, figure_error = [], f"{type(exc).__name__}: {exc}"
        return {
            "run": info.brief(),
            "spec": info.spec,
            "scores": score_table(info),
            "facets": facets(rows),
            "figures": figures,
            "figure_error": figure_error,
            "figures_available": report_available(),
        }

    @app.get("/api/runs/{run_id}/figures/{number}.svg")
    def _figure(run_id: str, number: int) -> Any:
        info = run_info(run_id)
        figures = run_figures(info.path, peers_of(info))
        if not 0 <= number < len(figures):
            raise ApiError(404, f"run {run_id} has no figure {number}")
        headers = {"Content-Security-Policy": SVG_CSP}
        return Response(standalone_svg(figures[number]["svg"]), media_type="image/svg+xml", headers=headers)

    @app.get("/api/runs/{run_id}/records")
    def _records(
        run_id: str,
        subset: str | None = None,
        failure: str | None = None,
        correct: str | None = None,
        flip: str | None = None,
        q: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> Any:
        if correct not in (None, "", "correct", "wrong", "tie", "failed"):
            raise ApiError(400, f"unknown correctness {correct!r}", "use correct, wrong, tie or failed")
        if flip not in (None, "", "yes", "no"):
            raise ApiError(400, f"unknown flip filter {flip!r}", "use yes or no")
        if limit < 1 or limit > MAX_PAGE or offset < 0:
            raise ApiError(400, f"a page is 1..{MAX_PAGE} rows from offset >= 0", "lower limit or offset")
        filters = Filters(subset or None, failure or None, correct or None, None if not flip else flip == "yes", q)
        return page(index.rows(run_info(run_id)), filters, offset, limit)

    @app.get("/api/runs/{run_id}/record")
    def _record(run_id: str, key: str) -> Any:
        view = record_view(run_info(run_id), key)
        if view is None:
            raise ApiError(404, f"run {run_id} has no record {key!r}")
        return view

    @app.get("/api/runs/{run_id}/items/{item_id}")
    def _item(run_id: str, item_id: str) -> Any:
        return items.item(run_info(run_id), item_id)

    @app.get("/api/playground")
    def _playground_info() -> Any:
        return play.describe()

    @app.post("/api/playground")
    def _playground(body: dict[str, Any]) -> Any:
        try:
            inp = PlaygroundInput(
                question=body.get("question", ""),
                answer_a=body.get("answer_a", ""),
                answer_b=body.get("answer_b", ""),
                judge=body.get("judge") or None,
                order=str(body.get("order", "both")),
                seed=int(body.get("seed", 0)),
            )
        except (TypeError, ValueError) as exc:
            raise ApiError(400, f"bad playground request: {exc}") from exc
        if play.model is None:
            raise ApiError(
                409,
                "no model is loaded, so the playground cannot judge",
                "start the server with --model SPEC --judge NAME (e.g. --model scripted:marker for a demo)",
            )
        events = play.stream(inp)  # refusals (bad input, a judge the model cannot run) raise here, as JSON
        return StreamingResponse(_sse(events), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})

    return app


def standalone_svg(svg: str) -> str:
    """The report's SVG is made for inlining in HTML, without namespace declarations; a browser shows an SVG file
    loaded as an image only with them (they are names, not addresses: nothing is fetched)."""
    head, sep, rest = svg.partition(">")
    if "xmlns=" not in head:
        head += ' xmlns="http://www.w3.org/2000/svg"'
    if "xlink:" in svg and "xmlns:xlink" not in head:
        head += ' xmlns:xlink="http://www.w3.org/1999/xlink"'
    return head + sep + rest


def _sse(events: Iterator[dict[str, Any]]) -> Iterator[str]:
    """Server-sent events: one ``data:`` line of JSON per event (JSON escapes newlines, so one line is enough)."""
    try:
        for event in events:
            yield f"data: {json.dumps(event)}\n\n"
    except Exception as exc:  # a failure mid-stream becomes an event: the response has already started
        traceback.print_exception(exc)
        yield f"data: {json.dumps({'event': 'error', 'message': f'{type(exc).__name__}: {exc}'})}\n\n"
