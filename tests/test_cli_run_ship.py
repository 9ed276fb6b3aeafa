"""Tests of ``calipers run``'s shipping steps: export -> parity -> quantize -> report.html.

The artifact must reproduce the refitted scikit-learn model, the HTML report must
parse and show the numbers of report.json, and missing extras must degrade to notes.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")

from sklearn import metrics as skm  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import calipers  # noqa: E402
from calipers.cli import run as cli_run  # noqa: E402
from calipers.report import fmt_number  # noqa: E402

# the small MLP of the multiclass test stops before sklearn's tolerance: not the point here
pytestmark = pytest.mark.filterwarnings("ignore:Stochastic Optimizer")

REGRESSOR = """
study_name = "ridge"
[data]
dataset = "diabetes"
[estimator]
class = "sklearn.linear_model.Ridge"
[space]
alpha = { type = "float", low = 0.001, high = 10.0, log = true }
[searcher]
name = "random"
[budget]
n_trials = 3
"""

MLP = """
study_name = "mlp iris"
seed = 3
[data]
dataset = "iris"
test_size = 0.3
[estimator]
class = "sklearn.neural_network.MLPClassifier"
params = { hidden_layer_sizes = [16], max_iter = 400, random_state = 0 }
[space]
alpha = { type = "float", low = 1e-5, high = 1e-1, log = true }
[searcher]
name = "random"
[budget]
n_trials = 3
[cv]
n_splits = 3
"""


class Page(HTMLParser):
    """What a report page holds: tags, image sources, table cells, all text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.images: list[str] = []
        self.hrefs: list[str] = []
        self.cells: list[str] = []
        self.text: list[str] = []
        self._cell: list[str] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if "href" in attrs:
            self.hrefs.append(attrs["href"])
        if tag == "td":
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.cells.append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def run_cmd(capsys, *argv):
    parser = argparse.ArgumentParser(prog="calipers")
    cli_run.add_parser(parser.add_subparsers())
    rc = cli_run.run(parser.parse_args(["run", *map(str, argv)]))
    out, err = capsys.readouterr()
    return rc, out, err


def spec(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "spec.toml"
    p.write_text(text, encoding="utf-8")
    return p


def page(out_dir: Path) -> Page:
    p = Page((out_dir / "report.html").read_text(encoding="utf-8"))
    assert not {"script", "link", "iframe", "object", "embed"} & set(p.tags)
    assert p.hrefs == []
    for src in p.images:  # self-contained: every picture is an embedded PNG
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")
    return p


def assert_numbers_shown(p: Page, report: dict) -> None:
    cells = set(p.cells)
    ship = report["ship"]
    expected = [report["cv_score"], report["held_out"]["score"], ship["parity"]["n"],
                *report["best_params"].values(), *ship["parity"]["max_abs_diff"].values(),
                *ship["parity"]["max_rel_diff"].values()]
    ev = report["held_out"]["eval"]
    expected += list((ev["metrics"] if ev else report["held_out"]["metrics"]).values())
    if report["importances"]:
        expected += list(report["importances"]["values"].values())
    for q in ship["quantized"]:
        if "size_ratio" in q:
            expected += [q["size_ratio"], q["latency_ratio"], q["quantized_ops"],
                         *q["metric_deltas"].values(), *q["metrics"]["quantized"].values()]
    missing = [v for v in expected if fmt_number(v) not in cells]
    assert not missing, missing


def test_default_spec_end_to_end(tmp_path, capsys):
    out_dir = tmp_path / "run"
    rc, out, err = run_cmd(capsys, "--out", out_dir, "--n-trials", "3", "--no-progress")
    assert rc == 0, err
    assert err == ""
    report = json.loads((out_dir / "report.json").read_text())
    ship = report["ship"]
    art = out_dir / "model" / "breast-cancer-hgb" / "1"
    assert ship["path"] == str(art) and ship["version"] == 1 and ship["format"] == "onnx"
    assert (art / "model.onnx").is_file() and (art / "manifest.json").is_file()
    assert calipers.export.list_versions(out_dir / "model", "breast-cancer-hgb") == [1]
    assert f"serve it with: calipers serve {out_dir / 'model'}" in out
    assert ship["parity"]["ok"] is True and ship["parity"]["n"] == 143
    assert ship["parity"]["label_agreement"] == 1.0

    # the artifact reproduces the refitted scikit-learn model on the held-out rows
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0,
                                                        stratify=y)
    model = HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=0,
                                           **report["best_params"]).fit(X_train, y_train)
    artifact = calipers.load(art)
    proba = artifact.predict_proba(X_test)
    assert np.max(np.abs(proba - model.predict_proba(X_test))) <= 1e-5
    assert ship["parity"]["max_abs_diff"]["probabilities"] == pytest.approx(
        float(np.max(np.abs(proba - model.predict_proba(X_test)))), rel=1e-6)
    assert (artifact.predict(X_test) == model.predict(X_test)).all()
    artifact.close()
    manifest = calipers.export.read_manifest(art)
    assert manifest["metrics"]["roc_auc"] == report["held_out"]["eval"]["metrics"]["roc_auc"]

    # trees: dynamic quantization finds nothing to quantize, static is skipped with a note
    dyn, static = ship["quantized"]
    assert dyn["mode"] == "dynamic" and dyn["quantized_ops"] == 0
    assert (out_dir / "model-quantized" / "breast-cancer-hgb-int8-dynamic" / "1" /
            "manifest.json").is_file()
    assert set(dyn["metric_deltas"]) == {"accuracy", "roc_auc"}
    assert dyn["metrics"]["source"]["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y_test, proba[:, 1]), rel=1e-12)
    assert static["mode"] == "static" and "no operator" in static["skipped"]
    assert "static quantization skipped" in out

    p = page(out_dir)
    assert_numbers_shown(p, report)
    assert [src for src in p.images]  # pictures: roc, pr, confusion matrix, history
    html = (out_dir / "report.html").read_text()
    for key in ("roc", "pr", "confusion_matrix", "history"):
        assert f'id="fig-{key}"' in html
    assert report["notes"] == []
    assert report["versions"]["onnxruntime"] and report["versions"]["scikit-learn"]
    assert report["versions"]["scikit-learn"] in p.cells

    # a second run resumes the study and exports the next version
    rc, out, err = run_cmd(capsys, "--out", out_dir, "--n-trials", "3", "--no-progress")
    assert rc == 0, err
    assert "nothing to run" in out
    assert calipers.export.list_versions(out_dir / "model", "breast-cancer-hgb") == [1, 2]
    assert json.loads((out_dir / "report.json").read_text())["ship"]["version"] == 2


def test_regressor(tmp_path, capsys):
    out_dir = tmp_path / "o"
    rc, out, err = run_cmd(capsys, spec(tmp_path, REGRESSOR), "--out", out_dir, "--no-progress")
    assert rc == 0, err
    report = json.loads((out_dir / "report.json").read_text())
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    pred = Ridge(**report["best_params"]).fit(X_train, y_train).predict(X_test)
    held = report["held_out"]["metrics"]
    assert held["r2"] == pytest.approx(skm.r2_score(y_test, pred), rel=1e-12)
    assert held["mean_absolute_error"] == pytest.approx(skm.mean_absolute_error(y_test, pred),
                                                        rel=1e-12)
    assert held["root_mean_squared_error"] == pytest.approx(
        skm.mean_squared_error(y_test, pred) ** 0.5, rel=1e-12)
    ship = report["ship"]
    assert ship["parity"]["ok"] and set(ship["parity"]["max_abs_diff"]) == {"prediction"}
    assert ship["parity"]["label_agreement"] is None
    artifact = calipers.load(Path(ship["path"]))
    assert np.allclose(artifact.predict(X_test).ravel(), pred, rtol=1e-5, atol=1e-3)
    artifact.close()
    dyn = ship["quantized"][0]
    assert set(dyn["metric_deltas"]) == {"mean_absolute_error", "mean_squared_error", "r2"}
    assert dyn["metrics"]["source"]["r2"] == pytest.approx(held["r2"], abs=1e-5)
    p = page(out_dir)
    assert_numbers_shown(p, report)
    html = (out_dir / "report.html").read_text()
    assert 'id="fig-predicted_vs_true"' in html and 'id="fig-roc"' not in html


def test_mlp_multiclass_is_quantized_dynamically_and_statically(tmp_path, capsys):
    out_dir = tmp_path / "o"
    rc, out, err = run_cmd(capsys, spec(tmp_path, MLP), "--out", out_dir, "--no-progress")
    assert rc == 0, err
    report = json.loads((out_dir / "report.json").read_text())
    ship = report["ship"]
    assert ship["name"] == "mlp-iris"  # the study's name, made safe for a path
    assert ship["parity"]["ok"]
    dyn, static = ship["quantized"]
    assert dyn["mode"] == "dynamic" and dyn["quantized_ops"] > 0
    assert static["mode"] == "static" and static["quantized_ops"] > 0
    for q in (dyn, static):  # the ratios are those of the files written
        source = (out_dir / "model" / "mlp-iris" / "1" / "model.onnx").stat().st_size
        quantized = (Path(q["out"]) / "model.onnx").stat().st_size
        assert q["size_bytes"] == {"source": source, "quantized": quantized}
        assert q["size_ratio"] == pytest.approx(quantized / source, rel=1e-12)
        assert set(q["metric_deltas"]) == {"accuracy", "balanced_accuracy", "f1"}
    for mode in ("dynamic", "static"):
        q = calipers.export.read_manifest(out_dir / "model-quantized" / f"mlp-iris-int8-{mode}"
                                          / "1")
        assert q["options"]["source"]["mode"] == mode
    assert "int8 static:" in out
    p = page(out_dir)
    assert_numbers_shown(p, report)
    html = (out_dir / "report.html").read_text()
    for key in ("roc", "pr", "confusion_matrix", "history"):
        assert f'id="fig-{key}"' in html
    assert "one-vs-rest" in html


def test_parity_failure_exits_1_with_the_report(tmp_path, capsys, monkeypatch):
    from calipers_onnx import OnnxExporter

    # no difference at all allowed: float32 ONNX probabilities cannot pass
    monkeypatch.setattr(OnnxExporter, "tolerance",
                        {"rtol": 0.0, "atol": 0.0, "min_label_agreement": 0.99})
    out_dir = tmp_path / "o"
    rc, out, err = run_cmd(capsys, "--out", out_dir, "--n-trials", "1", "--no-progress")
    assert rc == 1
    assert err.startswith("calipers run: error: parity check failed: output 'probabilities'")
    assert "report.html" in err
    assert "parity on 143 held-out rows: FAILED" in out
    report = json.loads((out_dir / "report.json").read_text())
    assert report["ship"]["parity"]["ok"] is False
    assert "quantized" not in report["ship"]
    assert not (out_dir / "model-quantized").exists()
    p = page(out_dir)
    assert "FAILED" in "".join(p.text)


def test_export_failure_exits_1(tmp_path, capsys):
    text = REGRESSOR.replace("sklearn.linear_model.Ridge", "sklearn.kernel_ridge.KernelRidge")
    rc, out, err = run_cmd(capsys, spec(tmp_path, text), "--out", tmp_path / "o",
                           "--no-progress")
    assert rc == 1
    assert err.startswith("calipers run: error: export to onnx failed: TypeError: skl2onnx")
    assert "\n" not in err.rstrip("\n")
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert "KernelRidge" in report["ship"]["error"]
    assert (tmp_path / "o" / "report.html").is_file()


def test_skops_format(tmp_path, capsys):
    out_dir = tmp_path / "o"
    rc, out, err = run_cmd(capsys, spec(tmp_path, REGRESSOR), "--out", out_dir,
                           "--export-format", "skops", "--no-progress")
    assert rc == 0, err
    ship = json.loads((out_dir / "report.json").read_text())["ship"]
    assert ship["format"] == "skops" and ship["parity"]["ok"]
    assert ship["parity"]["max_abs_diff"]["prediction"] == 0.0
    assert "quantized" not in ship and not (out_dir / "model-quantized").exists()


def test_no_ship(tmp_path, capsys):
    out_dir = tmp_path / "o"
    rc, out, err = run_cmd(capsys, spec(tmp_path, REGRESSOR), "--out", out_dir, "--no-ship",
                           "--no-progress")
    assert rc == 0, err
    assert not (out_dir / "model").exists()
    report = json.loads((out_dir / "report.json").read_text())
    assert "ship" not in report
    assert "not run (--no-ship)" in (out_dir / "report.html").read_text()


def test_without_onnx_the_ship_steps_are_skipped(tmp_path, capsys, monkeypatch):
    for module in ("onnx", "onnxruntime", "skl2onnx"):
        monkeypatch.setitem(sys.modules, module, None)
    out_dir = tmp_path / "o"
    rc, out, err = run_cmd(capsys, spec(tmp_path, REGRESSOR), "--out", out_dir, "--no-progress")
    assert rc == 0, err
    note = ('export, parity check and quantization skipped: the onnx format needs onnx, '
            'onnxruntime, skl2onnx: pip install "calipers[onnx]"')
    assert note in out.splitlines()
    report = json.loads((out_dir / "report.json").read_text())
    assert report["ship"] == {"format": "onnx", "skipped": note}
    assert not (out_dir / "model").exists()
    p = page(out_dir)
    assert note in p.text


def test_without_matplotlib_the_report_has_no_pictures(tmp_path, capsys, monkeypatch):
    for module in ("matplotlib", "matplotlib.pyplot"):
        monkeypatch.setitem(sys.modules, module, None)
    out_dir = tmp_path / "o"
    rc, out, err = run_cmd(capsys, spec(tmp_path, REGRESSOR), "--out", out_dir, "--no-progress")
    assert rc == 0, err
    note = 'plots skipped: matplotlib is not installed: pip install "calipers[plot]"'
    assert f"note: {note}" in out
    report = json.loads((out_dir / "report.json").read_text())
    assert report["notes"] == [note]
    p = page(out_dir)
    assert p.images == [] and note in p.text
    assert_numbers_shown(p, report)  # the tables are all there


def test_serve_hint_names_the_extra_when_it_is_missing(tmp_path, monkeypatch):
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    from calipers.cli import _run_ship

    X, y = load_breast_cancer(return_X_y=True)
    model = LogisticRegression(max_iter=5000).fit(X[:400], y[:400])
    kwargs = dict(study_name="hint", X_train=X[:400], X_test=X[400:], y_test=y[400:],
                  task="classifier", metrics={}, fmt="skops")
    shown = _run_ship.ship(model, out=tmp_path / "a", **kwargs)
    line = next(x for x in shown.lines if x.startswith("exported:"))
    assert line.endswith(f"serve it with: calipers serve {tmp_path / 'a' / 'model'}")
    monkeypatch.setattr(_run_ship, "available", lambda module: module != "uvicorn")
    hinted = _run_ship.ship(model, out=tmp_path / "b", **kwargs)
    line = next(x for x in hinted.lines if x.startswith("exported:"))
    assert line.endswith("(after pip install 'calipers[serve]')")
