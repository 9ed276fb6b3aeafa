"""``calipers run``'s HTML report: one self-contained file.

No JavaScript, no external style sheet, font or CDN: the style is inline and the
pictures are PNGs embedded as base64 ``data:`` URIs, so the file can be mailed or
archived alone. Every text from the run (names, parameters, paths, error messages)
is HTML-escaped. Numbers are written with :func:`fmt_number` (6 significant digits),
the same digits whichever section shows them.
"""

from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["fmt_number", "render_html", "write_html_report"]

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.num { text-align: right; font-family: ui-monospace, monospace; }
th { background: #f3f3f3; }
.ok { color: #166534; font-weight: bold; } .fail { color: #b91c1c; font-weight: bold; }
.note { background: #fff7e6; border-left: 4px solid #f0ad4e; padding: 0.4em 0.8em; }
figure { display: inline-block; margin: 0.5em 1em 1em 0; vertical-align: top; }
figcaption { font-size: 0.9em; color: #555; }
img { max-width: 100%; border: 1px solid #eee; }
code { background: #f5f5f5; padding: 0 0.2em; }
"""


def fmt_number(value: Any) -> str:
    """A number as the report writes it: ints as they are, floats with 6 significant digits."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _cell(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) or value is None:
        return f'<td class="num">{_e(fmt_number(value))}</td>'
    if isinstance(value, (list, tuple)):
        return f"<td>{_e(_nested(value))}</td>"
    return f"<td>{_e(value)}</td>"


def _nested(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_nested(v) for v in value) + "]"
    return fmt_number(value)


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _kv(mapping: Mapping[str, Any], header: tuple[str, str] = ("name", "value")) -> str:
    return _table(header, [(k, v) for k, v in mapping.items()])


def _notes(notes: Iterable[str]) -> str:
    return "".join(f'<p class="note">{_e(n)}</p>' for n in notes)


def _status(ok: bool) -> str:
    return '<span class="ok">ok</span>' if ok else '<span class="fail">FAILED</span>'


def _summary(data: Mapping[str, Any]) -> str:
    held = data.get("held_out") or {}
    rows = [
        ("study", data.get("study_name")),
        ("estimator", data.get("estimator")),
        ("data", data.get("data")),
        ("storage", data.get("storage")),
        ("trials in the study", data.get("n_trials")),
        ("trials run now", data.get("n_run")),
        ("tuning wall time (s)", data.get("tune_seconds")),
        ("scoring", data.get("scoring")),
        ("best trial", data.get("best_trial")),
        ("best cross-validated score", data.get("cv_score")),
        ("held-out rows", held.get("rows")),
        ("training rows (refit)", held.get("train_rows")),
        (f"held-out {data.get('scoring')}", held.get("score")),
    ]
    return "<h2>Summary</h2>" + _table(("", "value"), [r for r in rows if r[1] is not None])


def _metrics(data: Mapping[str, Any]) -> str:
    held = data.get("held_out") or {}
    ev = held.get("eval")
    out = ["<h2>Held-out metrics</h2>"]
    if ev:
        out.append(f"<p>task: {_e(ev.get('task'))}; classes: {_e(_nested(ev.get('classes')))}"
                   + (f"; positive label: {_e(ev['positive_label'])}"
                      if "positive_label" in ev else "")
                   + f"; {_e(ev.get('n_samples'))} rows (calipers eval on predictions.csv)</p>")
        out.append(_kv(ev.get("metrics") or {}, ("metric", "value")))
    elif held.get("metrics"):
        out.append(_kv(held["metrics"], ("metric", "value")))
    else:
        out.append(_kv({str(data.get("scoring")): held.get("score")}, ("metric", "value")))
    return "".join(out)


def _figures(figures: Sequence[Any], keys: Sequence[str]) -> str:
    out = []
    for fig in figures:
        if fig.key not in keys:
            continue
        b64 = base64.b64encode(fig.png).decode("ascii")
        out.append(f'<figure id="fig-{_e(fig.key)}"><img alt="{_e(fig.caption)}" '
                   f'src="data:image/png;base64,{b64}"><figcaption>{_e(fig.caption)}'
                   "</figcaption></figure>")
    return "".join(out)


def _tuning(data: Mapping[str, Any], figures: Sequence[Any]) -> str:
    out = ["<h2>Tuning</h2>", _figures(figures, ("history",))]
    imp = data.get("importances")
    if imp:
        out.append(f"<h3>Parameter importances ({_e(imp.get('method'))})</h3>")
        out.append(_kv(imp.get("values") or {}, ("parameter", "share of variance (main effect)")))
    out.append("<h3>Best parameters</h3>")
    out.append(_kv(data.get("best_params") or {}, ("parameter", "value")))
    return "".join(out)


def _ship(ship: Mapping[str, Any] | None) -> str:
    out = ["<h2>Export, parity and quantization</h2>"]
    if not ship:
        return out[0] + _notes(["not run (--no-ship)"])
    if "skipped" in ship:
        return out[0] + _notes([ship["skipped"]])
    out.append(f"<p>format <code>{_e(ship.get('format'))}</code>: model "
               f"<code>{_e(ship.get('name'))}</code> version {_e(ship.get('version'))} at "
               f"<code>{_e(ship.get('path'))}</code>; serve it with "
               f"<code>{_e(ship.get('serve'))}</code></p>")
    if "error" in ship:
        out.append(_notes([f"export failed: {ship['error']}"]))
    parity = ship.get("parity")
    if parity:
        out.append(f"<h3>Parity on {_e(parity['n'])} held-out rows: {_status(parity['ok'])}</h3>")
        rows = [(name, diff, parity["max_rel_diff"].get(name))
                for name, diff in parity["max_abs_diff"].items()]
        out.append(_table(("output", "max abs diff", "max rel diff"), rows))
        if parity.get("label_agreements"):
            out.append(_kv(parity["label_agreements"], ("label output", "agreement")))
        out.append(_kv(parity.get("tolerance") or {}, ("tolerance", "value")))
        out.append(_notes(parity.get("failures") or []))
    quantized = ship.get("quantized") or []
    done = [q for q in quantized if "size_ratio" in q]
    if quantized:
        out.append("<h3>int8 quantization (onnxruntime)</h3>")
    if done:
        out.append(_table(
            ("mode", "artifact", "quantized ops", "float32 bytes", "int8 bytes", "size ratio",
             "float32 ms", "int8 ms", "latency ratio", "label agreement vs float32"),
            [(q["mode"], q["out"], q["quantized_ops"], q["size_bytes"]["source"],
              q["size_bytes"]["quantized"], q["size_ratio"], q["latency_ms"]["source"],
              q["latency_ms"]["quantized"], q["latency_ratio"],
              (q.get("agreement") or {}).get("label_agreement")) for q in done]))
        out.append(f"<p>latency: median in-process onnxruntime run over "
                   f"{_e(done[0].get('latency_rows'))} held-out rows, {_e(done[0].get('repeats'))}"
                   " repeats (noisy on a busy machine; ratios near 1 are noise)</p>")
        for q in done:
            if q.get("metrics"):
                rows = [(k, q["metrics"]["source"][k], q["metrics"]["quantized"][k],
                         q["metric_deltas"][k]) for k in q["metrics"]["source"]]
                out.append(f"<p>{_e(q['mode'])}: metrics on the held-out rows</p>")
                out.append(_table(("metric", "float32", "int8", "delta"), rows))
    out.append(_notes(q.get("skipped") or q.get("error") for q in quantized
                      if "size_ratio" not in q))
    return "".join(out)


def render_html(data: Mapping[str, Any], figures: Sequence[Any] = (),
                notes: Sequence[str] = ()) -> str:
    """Render the report (``report.json``'s dict, the pictures, notes) as one HTML page."""
    title = f"calipers run: {data.get('study_name', '')}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        _notes(notes),
        _summary(data),
        _metrics(data),
        _figures(figures, ("roc", "pr", "confusion_matrix", "predicted_vs_true")),
        _tuning(data, figures),
        _ship(data.get("ship")),
        "<h2>Versions</h2>",
        _kv(data.get("versions") or {}, ("package", "version")),
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def write_html_report(path: str | os.PathLike, data: Mapping[str, Any],
                      figures: Sequence[Any] = (), notes: Sequence[str] = ()) -> Path:
    """Write :func:`render_html`'s page to ``path`` (UTF-8) and return the path."""
    path = Path(path)
    path.write_text(render_html(data, figures, notes), encoding="utf-8")
    return path
