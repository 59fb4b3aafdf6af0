"""The report page: one self-contained HTML file (inline CSS and SVG, no scripts, no external references).

Every piece of run text (paths, names, subset names, prompts, judge outputs, error messages) goes through
:func:`esc`; the data holds adversarial text by design, and it must be shown, never interpreted."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from rrm_eval.report._figures import score_rows
from rrm_eval.report._loading import ReportRun, Unreadable
from rrm_eval.report._plot import Figure
from rrm_eval.report._tournament import schedule_rows
from rrm_eval.report._tts import sweep_rows

#: How many wrong or unreadable judge calls each run shows in full.
EXAMPLES = 5
#: Characters of a prompt's end and of a raw output shown per example (the page stays a few MB).
PROMPT_TAIL, RAW_HEAD = 1500, 3000

CSS = """
:root { --fg: #1d1d1f; --bg: #ffffff; --muted: #5f6368; --line: #d0d4d9; --warn: #a04000; --code: #f3f4f6; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e8e8ea; --bg: #16171a; --muted: #a0a4a8; --line: #3a3d42; --warn: #f0a060; --code: #23252a; }
}
body { font-family: system-ui, sans-serif; color: var(--fg); background: var(--bg); margin: 2rem auto;
       max-width: 62rem; padding: 0 1rem; line-height: 1.45; }
h1, h2, h3 { line-height: 1.2; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border-bottom: 1px solid var(--line); padding: 0.2rem 0.6rem; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1rem 0 1.5rem; }
figure svg { max-width: 100%; height: auto; }
figure svg text { fill: var(--fg) !important; }
figcaption { color: var(--muted); font-size: 0.85rem; max-width: 48rem; }
.muted { color: var(--muted); }
.warn { color: var(--warn); }
.unreadable { border-left: 4px solid var(--warn); padding: 0.2rem 0.8rem; margin: 0.5rem 0; }
pre { background: var(--code); padding: 0.6rem; overflow-x: auto; white-space: pre-wrap; word-break: break-word;
      font-size: 0.8rem; }
details { margin: 0.3rem 0; }
section.run { border-top: 2px solid var(--line); margin-top: 2rem; }
"""


def esc(value: Any) -> str:
    """Text for HTML content or attributes: every <, >, &, quote escaped."""
    return html.escape(str(value), quote=True)


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}"


def _score_table(run: ReportRun) -> str:
    rows = score_rows(run)
    head = "<tr><th></th><th class=num>n</th><th class=num>score (%)</th><th class=num>95% interval</th></tr>"
    body = "".join(
        f"<tr><td>{esc(name)}</td><td class=num>{esc(n)}</td><td class=num>{_pct(v)}</td>"
        f"<td class=num>{'' if ci is None else f'[{_pct(ci[0])}, {_pct(ci[1])}]'}</td></tr>"
        for name, v, ci, n in rows
    )
    return f"<table>{head}{body}</table>"


def _facts(run: ReportRun) -> str:
    s = run.summary
    pairs: list[tuple[str, Any]] = [("kind", run.kind), ("task", run.task), ("judge", run.judge), ("model", run.model)]
    if run.kind == "sweep":
        budgets = [str(r["budget"]) for r in s.get("budgets") or []]
        ratio = s.get("ratio_to_largest")
        pairs += [
            ("thinking budgets", ", ".join(budgets)),
            ("tokens generated", s.get("total_generated_tokens")),
            ("largest budget alone", s.get("largest_generated_tokens")),
            ("sweep / largest alone", f"{ratio:.3f}x" if isinstance(ratio, (int, float)) else None),
        ]
    elif run.kind == "tournament":
        spend = s.get("spend") or {}
        pairs += [
            ("schedule", s.get("schedule")),
            ("problems", s.get("n_sets")),
            ("judge calls", spend.get("judge_calls")),
        ]
    else:
        rec = s.get("records") or {}
        pairs += [
            ("items", s.get("n_items")),
            ("failure policy", s.get("failure_policy")),
            ("position consistency (%)", _pct(s.get("position_consistency"))),
            ("first-position rate (%)", _pct(rec.get("first_position_rate"))),
            ("failure rate (%)", _pct(rec.get("failure_rate"))),
            ("truncation rate (%)", _pct(rec.get("truncation_rate"))),
        ]
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in pairs if v not in (None, ""))
    return f"<table>{body}</table>"


def _is_wrong(record: Any) -> bool:
    """A pairwise call that picked the rejected answer (``AB``: chosen shown first) or could not be read."""
    if record.failure:
        return True
    return bool(record.order == "AB" and record.verdict == 2) or (record.order == "BA" and record.verdict == 1)


def _examples(run: ReportRun) -> str:
    judges = run.judge_records()
    picked = [r for r in judges if _is_wrong(r)] if run.kind == "pairwise" else [r for r in judges if r.failure]
    if not picked:
        return ""
    items = []
    for r in picked[:EXAMPLES]:
        verdict = f"failure: {r.failure}" if r.failure else f"verdict: position {r.verdict}"
        prompt = (r.prompt or "")[-PROMPT_TAIL:]
        items.append(
            f"<details><summary>{esc(r.key)} &middot; {esc(r.subset)} &middot; order {esc(r.order)} &middot; "
            f"{esc(verdict)}</summary><p class=muted>end of the prompt</p><pre>{esc(prompt)}</pre>"
            f"<p class=muted>judge output (start)</p><pre>{esc(r.raw[:RAW_HEAD])}</pre></details>"
        )
    what = "picked the rejected answer or were unreadable" if run.kind == "pairwise" else "were unreadable"
    return (
        f"<h3>Calls to read</h3><p class=muted>The first {len(items)} of {len(picked)} judge calls that {what}, "
        f"in file order.</p>{''.join(items)}"
    )


def _sweep_table(run: ReportRun) -> str:
    """Per budget: the score with its interval, thinking, cut share and what the budget generated; then where each
    budget's run is (or why it cannot be read)."""
    head = (
        "<tr><th class=num>budget</th><th class=num>score (%)</th><th class=num>95% interval</th>"
        "<th class=num>mean thinking tokens</th><th class=num>cut (%)</th><th class=num>tokens generated</th>"
        "<th class=num>calls</th><th class=num>records</th></tr>"
    )
    body = "".join(
        f"<tr><td class=num>{esc(r['budget'])}</td><td class=num>{_pct(r['accuracy'])}</td><td class=num>"
        f"{_ci(r['interval'])}</td>"
        f"<td class=num>{esc(_num(r.get('thinking_tokens')))}</td><td class=num>{_pct(_float(r.get('cut_share')))}"
        f"</td><td class=num>{esc(r.get('generated_tokens', ''))}</td><td class=num>{esc(r.get('calls', ''))}</td>"
        f"<td class=num>{esc(r.get('records', ''))}</td></tr>"
        for r in sweep_rows(run)
    )
    parts = "".join(
        f"<li>budget {esc(b)}: "
        + (
            esc(part.run_dir)
            if isinstance(part, ReportRun)
            else f"<span class=warn>unreadable: {esc(part.reason)}</span>"
        )
        + "</li>"
        for b, part in run.parts
    )
    return (
        f"<table>{head}{body}</table><p class=muted>Budget runs (each a pairwise run of its own):</p><ul>{parts}</ul>"
    )


def _ci(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f"[{_pct(ci[0])}, {_pct(ci[1])}]"


def _float(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def _num(x: Any) -> str:
    v = _float(x)
    return "" if v is None else f"{v:.1f}"


def figure_html(fig: Figure) -> str:
    """One figure: its title, the SVG (already-safe markup made by matplotlib) and the escaped caption."""
    return f"<figure><h3>{esc(fig.title)}</h3>{fig.svg}<figcaption>{esc(fig.caption)}</figcaption></figure>"


def run_section(run: ReportRun, figures: Sequence[Figure]) -> str:
    return (
        f"<section class=run id=run-{esc(run.label)}><h2>{esc(run.label)}: {esc(run.run_dir.name)}</h2>"
        f"<p class=muted>{esc(run.run_dir)}</p>{_facts(run)}<h3>Scores</h3>"
        f"{_sweep_table(run) if run.kind == 'sweep' else _score_table(run)}"
        f"{''.join(figure_html(f) for f in figures)}{_examples(run)}</section>"
    )


def unreadable_section(bad: Sequence[Unreadable]) -> str:
    if not bad:
        return ""
    items = "".join(
        f"<div class=unreadable><strong>{esc(u.label)}: {esc(u.run_dir)}</strong><br>{esc(u.reason)}"
        f"{'' if not u.hint else '<br><span class=muted>hint: ' + esc(u.hint) + '</span>'}</div>"
        for u in bad
    )
    return f"<section id=unreadable><h2>Unreadable runs</h2>{items}</section>"


def comparison_section(result: dict[str, Any] | None, figures: Sequence[Figure], notes: Sequence[str]) -> str:
    parts = []
    if result:
        for comp in result.get("comparisons", []):
            head = (
                f"<tr><th></th><th class=num>n</th><th class=num>{esc(comp['a'])}</th><th class=num>{esc(comp['b'])}"
                f"</th><th class=num>diff</th><th class=num>95% interval</th><th class=num>p</th></tr>"
            )
            body = "".join(
                f"<tr><td>{esc(str(r['name']).removeprefix('sections.'))}</td><td class=num>{esc(r['n'])}</td>"
                f"<td class=num>{_pct(r['a'])}</td><td class=num>{_pct(r['b'])}</td>"
                f"<td class=num>{100 * r['diff']:+.1f}</td>"
                f"<td class=num>[{_pct(r['ci'][0])}, {_pct(r['ci'][1])}]</td><td class=num>{r['p_value']:.3g}</td></tr>"
                for r in comp.get("rows", [])
            )
            verdicts = "".join(f"<li>{esc(v)}</li>" for v in comp.get("verdicts", []))
            parts.append(
                f"<h3>{esc(comp['b'])} vs {esc(comp['a'])} ({esc(comp.get('n_common'))} common items)</h3>"
                f"<table>{head}{body}</table><ul>{verdicts}</ul><p class=muted>{esc(comp.get('caveat', ''))}</p>"
            )
        parts.append(
            f"<p class=muted>intervals: {esc(result.get('method'))}; p: {esc(result.get('test'))}; "
            f"alpha {esc(result.get('alpha'))}</p>"
        )
    parts += [figure_html(f) for f in figures]
    parts += [f"<p class=muted>{esc(n)}</p>" for n in notes]
    if not parts:
        return ""
    return f"<section id=comparison><h2>Paired comparison</h2>{''.join(parts)}</section>"


def across_section(runs: Sequence[ReportRun], figures: Sequence[Figure], groups: Sequence[Sequence[ReportRun]]) -> str:
    """Runs compared without pairing items: the schedule table of each group of tournaments, and the figures."""
    if not figures:
        return ""
    tables = []
    for group in groups:
        head = (
            "<tr><th>run</th><th>schedule</th><th class=num>games per match</th><th>selector</th>"
            "<th class=num>judge calls per problem</th><th class=num>accuracy (%)</th><th class=num>95% interval</th>"
            "<th class=num>problems</th></tr>"
        )
        body = "".join(
            f"<tr><td>{esc(r['label'])}</td><td>{esc(r['schedule'])}</td><td class=num>{esc(r['games'])}</td>"
            f"<td>{esc(r['primary'])}</td><td class=num>{esc(_num(r['calls']))}</td>"
            f"<td class=num>{_pct(r['accuracy'])}</td><td class=num>"
            f"{_ci(r['interval'])}</td>"
            f"<td class=num>{esc(r['n'])}</td></tr>"
            for r in schedule_rows(group)
        )
        tables.append(f"<table>{head}{body}</table>")
    return (
        f"<section id=across><h2>Across runs</h2>{''.join(tables)}{''.join(figure_html(f) for f in figures)}</section>"
    )


def page(runs: Sequence[ReportRun], bad: Sequence[Unreadable], body: str, title: str = "rrm-eval report") -> str:
    listing = "".join(
        f"<tr><td><a href='#run-{esc(r.label)}'>{esc(r.label)}</a></td><td>{esc(r.kind)}</td><td>{esc(r.task)}</td>"
        f"<td>{esc(r.judge)}</td><td>{esc(r.model)}</td><td>{esc(r.run_dir.name)}</td></tr>"
        for r in runs
    ) + "".join(f"<tr><td>{esc(u.label)}</td><td colspan=5>unreadable: {esc(u.run_dir)}</td></tr>" for u in bad)
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        "<meta name=color-scheme content='light dark'>"
        # No script, no outside fetch of any kind: the page is data only.
        "<meta http-equiv=Content-Security-Policy content=\"default-src 'none'; style-src 'unsafe-inline'; "
        'img-src data:">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body><h1>{esc(title)}</h1>"
        f"<table><tr><th>run</th><th>kind</th><th>task</th><th>judge</th><th>model</th><th>directory</th></tr>"
        f"{listing}</table>{unreadable_section(bad)}{body}"
        "<p class=muted>Made by rrm-eval report from the runs' spec.json, summary.json and records.jsonl.</p>"
        "</body></html>\n"
    )
