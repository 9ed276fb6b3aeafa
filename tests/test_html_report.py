"""Tests of calipers.report: the self-contained HTML page and its pictures."""

from __future__ import annotations

import base64
import sys
from html.parser import HTMLParser

import numpy as np
import pytest

from calipers.report import Figure, fmt_number, render_html, write_html_report

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


class Parsed(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def data(**over):
    d = {
        "study_name": "s",
        "estimator": "sklearn.linear_model.Ridge",
        "scoring": "r2",
        "n_trials": 3,
        "cv_score": 0.123456789,
        "best_params": {"alpha": 0.5},
        "held_out": {"rows": 10, "train_rows": 30, "score": 0.25, "eval": None,
                     "metrics": {"r2": 0.25, "mean_absolute_error": 12.5}},
        "importances": {"method": "forest", "values": {"alpha": 1.0}},
        "versions": {"python": "3.11.9", "numpy": "2.0.0"},
    }
    d.update(over)
    return d


def test_fmt_number():
    assert fmt_number(0.123456789) == "0.123457"
    assert fmt_number(3) == "3" and fmt_number(True) == "true"
    assert fmt_number(None) == "n/a" and fmt_number(float("nan")) == "nan"
    assert fmt_number(1.5e-7) == "1.5e-07"


def test_text_is_escaped_and_nothing_is_external(tmp_path):
    evil = '<script>alert("x")</script><img src="http://example.com/a.png">'
    page = render_html(data(study_name=evil, best_params={evil: evil}),
                       [Figure("history", evil, PNG)], notes=[evil])
    p = Parsed(page)
    assert "script" not in p.tags
    srcs = [a["src"] for tag, a in p.attrs if tag == "img"]
    assert srcs == ["data:image/png;base64," + base64.b64encode(PNG).decode()]
    assert not any("href" in a for _, a in p.attrs)
    assert evil in "".join(p.text)  # shown as text, not markup
    assert page.count("<script") == 0 and "&lt;script&gt;" in page
    path = write_html_report(tmp_path / "r.html", data(), [Figure("roc", "ROC", PNG)])
    assert path.read_text(encoding="utf-8") == render_html(data(), [Figure("roc", "ROC", PNG)])


def test_sections_and_numbers():
    ship = {
        "format": "onnx", "name": "m", "version": 2, "path": "out/model/m/2",
        "serve": "calipers serve out/model",
        "parity": {"n": 10, "ok": False, "max_abs_diff": {"prediction": 0.00123},
                   "max_rel_diff": {"prediction": 4.5e-06}, "label_agreement": None,
                   "label_agreements": {},
                   "tolerance": {"rtol": 0.001, "atol": 1e-05, "min_label_agreement": 0.99},
                   "failures": ["output 'prediction': too far"]},
        "quantized": [
            {"mode": "dynamic", "out": "q/1", "quantized_ops": 3,
             "size_bytes": {"source": 1000, "quantized": 400}, "size_ratio": 0.4,
             "latency_ms": {"source": 1.0, "quantized": 0.75}, "latency_ratio": 0.75,
             "latency_rows": 10, "repeats": 7,
             "agreement": {"label_agreement": 0.98},
             "metrics": {"source": {"r2": 0.5}, "quantized": {"r2": 0.49}},
             "metric_deltas": {"r2": -0.01}},
            {"mode": "static", "error": "static quantization failed: boom"},
        ],
    }
    page = render_html(data(ship=ship))
    p = Parsed(page)
    text = "".join(p.text)
    for needle in ("0.123457", "0.00123", "4.5e-06", "0.4", "0.75", "-0.01", "0.49", "1000",
                   "FAILED", "output 'prediction': too far", "static quantization failed: boom",
                   "calipers serve out/model", "forest", "3.11.9", "12.5"):
        assert needle in text, needle
    assert "ok" not in [t.strip() for t in p.text]


def test_skipped_and_no_ship():
    note = 'skipped: pip install "calipers[onnx]"'
    text = "".join(Parsed(render_html(data(ship={"format": "onnx", "skipped": note}))).text)
    assert note in text
    assert "not run (--no-ship)" in "".join(Parsed(render_html(data())).text)


def test_classifier_metrics_table():
    ev = {"task": "binary", "classes": [0, 1], "positive_label": 1, "n_samples": 10,
          "metrics": {"accuracy": 0.9, "roc_auc": 0.987654321, "confusion_matrix": [[4, 1],
                                                                                   [0, 5]]}}
    page = render_html(data(held_out={"rows": 10, "train_rows": 30, "score": 0.9, "eval": ev}))
    text = "".join(Parsed(page).text)
    assert "0.987654" in text and "[[4, 1], [0, 5]]" in text and "positive label: 1" in text


@pytest.fixture
def fitted():
    sk = pytest.importorskip("sklearn")
    del sk
    pytest.importorskip("matplotlib")
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=500).fit(X, y), X, y


def study(n_trials):
    import calipers
    from calipers.search import Float

    s = calipers.create_study(space={"a": Float(0.0, 1.0)}, searcher="random",
                              direction="maximize", seed=0, study_name="tiny")
    if n_trials:
        s.optimize(lambda params: params["a"], n_trials=n_trials)
    return s


def test_render_figures_multiclass(fitted):
    from calipers.report import render_figures

    model, X, y = fitted
    figures, notes = render_figures(model=model, X_test=X, y_test=y, study=study(1),
                                    classifier=True)
    assert [f.key for f in figures] == ["roc", "pr", "confusion_matrix", "history"]
    assert all(f.png.startswith(b"\x89PNG") for f in figures)
    assert "one-vs-rest" in figures[0].caption
    assert notes == []


def test_render_figures_string_labels_and_no_proba(fitted):
    from sklearn.svm import LinearSVC

    from calipers.report import render_figures

    _, X, y = fitted
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    model = LinearSVC().fit(X, names)
    figures, notes = render_figures(model=model, X_test=X, y_test=names,
                                    study=study(0), classifier=True)
    assert [f.key for f in figures] == ["confusion_matrix"]
    assert notes[0] == "no ROC / precision-recall curves: LinearSVC has no predict_proba"
    assert notes[1].startswith("no tuning history picture: study 'tiny' has no COMPLETE")


def test_render_figures_without_matplotlib(fitted, monkeypatch):
    from calipers.report import render_figures

    model, X, y = fitted
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    figures, notes = render_figures(model=model, X_test=X, y_test=y, study=study(1),
                                    classifier=True)
    assert figures == []
    assert notes == ['plots skipped: matplotlib is not installed: pip install "calipers[plot]"']
