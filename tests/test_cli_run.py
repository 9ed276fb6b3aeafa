"""Tests of ``calipers run``: tune -> refit the best -> evaluate the held-out rows.

The held-out numbers must equal scikit-learn's for the same refitted model.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sk = pytest.importorskip("sklearn")

from sklearn import metrics as skm  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import calipers  # noqa: E402
from calipers.cli import run as cli_run  # noqa: E402

SPEC = """
study_name = "r"
seed = 1
scoring = "roc_auc"

[data]
dataset = "breast_cancer"
test_size = 0.25

[estimator]
class = "sklearn.ensemble.HistGradientBoostingClassifier"
params = { max_iter = 15, early_stopping = false, random_state = 0 }

[space]
learning_rate = { type = "float", low = 0.02, high = 0.5, log = true }
max_leaf_nodes = { type = "int", low = 4, high = 32, log = true }

[searcher]
name = "random"

[budget]
n_trials = 3

[cv]
n_splits = 3
"""


def run_cmd(capsys, *argv):
    parser = argparse.ArgumentParser(prog="calipers")
    cli_run.add_parser(parser.add_subparsers())
    args = parser.parse_args(["run", *map(str, argv)])
    rc = cli_run.run(args)
    out, err = capsys.readouterr()
    return rc, out, err


def write_spec(tmp_path: Path, text: str = SPEC) -> Path:
    p = tmp_path / "spec.toml"
    p.write_text(text, encoding="utf-8")
    return p


def held_out(dataset: str, seed: int, test_size: float, stratify: bool = True):
    from sklearn import datasets

    X, y = getattr(datasets, f"load_{dataset}")(return_X_y=True)
    return train_test_split(X, y, test_size=test_size, random_state=seed,
                            stratify=y if stratify else None)


def test_run_binary_matches_sklearn(tmp_path, capsys):
    out_dir = tmp_path / "out"
    rc, out, err = run_cmd(capsys, write_spec(tmp_path), "--out", out_dir, "--no-progress")
    assert rc == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "best_params.json", "model", "model-quantized", "predictions.csv", "report.html",
        "report.json", "report.txt"]
    assert (out_dir / "report.txt").read_text() == out
    report = json.loads((out_dir / "report.json").read_text())
    study = calipers.load_study(study_name="r", storage=f"sqlite:///{tmp_path}/calipers-study.db")
    assert report["best_trial"] == study.best_trial.number
    assert report["best_params"] == study.best_params
    assert json.loads((out_dir / "best_params.json").read_text()) == study.best_params
    assert report["cv_score"] == study.best_value

    from sklearn.ensemble import HistGradientBoostingClassifier

    X_train, X_test, y_train, y_test = held_out("breast_cancer", 1, 0.25)
    model = HistGradientBoostingClassifier(max_iter=15, early_stopping=False, random_state=0,
                                           **study.best_params).fit(X_train, y_train)
    proba = model.predict_proba(X_test)[:, 1]
    pred = model.predict(X_test)
    assert report["held_out"]["rows"] == len(y_test) == 143
    assert report["held_out"]["train_rows"] == len(y_train)
    assert report["held_out"]["score"] == pytest.approx(skm.roc_auc_score(y_test, proba),
                                                        rel=1e-12)
    metrics = report["held_out"]["eval"]["metrics"]
    assert metrics["accuracy"] == pytest.approx(skm.accuracy_score(y_test, pred), rel=1e-12)
    assert metrics["f1"] == pytest.approx(skm.f1_score(y_test, pred), rel=1e-12)
    assert metrics["mcc"] == pytest.approx(skm.matthews_corrcoef(y_test, pred), rel=1e-12)
    assert metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(y_test, proba), rel=1e-12)
    assert metrics["average_precision"] == pytest.approx(
        skm.average_precision_score(y_test, proba), rel=1e-12)
    with open(out_dir / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["y_true"]) for r in rows] == y_test.tolist()
    assert [int(r["y_pred"]) for r in rows] == pred.tolist()
    assert np.allclose([float(r["y_score"]) for r in rows], proba, rtol=1e-12)
    # the text report: the tuning summary, the held-out score, eval's table
    assert "held out: 143 rows (25% of breast_cancer); refit on 426 rows" in out
    assert f"held-out roc_auc: {skm.roc_auc_score(y_test, proba):.6f}" in out
    assert "task: binary" in out and "average_precision" in out


def test_run_resumes_the_tuned_study(tmp_path, capsys):
    from calipers.cli import tune as cli_tune

    spec = write_spec(tmp_path)
    parser = argparse.ArgumentParser(prog="calipers")
    cli_tune.add_parser(parser.add_subparsers())
    assert cli_tune.run(parser.parse_args(["tune", str(spec), "--no-progress"])) == 0
    capsys.readouterr()
    rc, out, err = run_cmd(capsys, spec, "--out", tmp_path / "o", "--no-progress")
    assert rc == 0, err
    assert "nothing to run: 3 finished trials of n_trials=3" in out


def test_run_multiclass_and_json(tmp_path, capsys):
    text = SPEC.replace('"breast_cancer"', '"iris"').replace('scoring = "roc_auc"',
                                                             'scoring = "f1_macro"')
    rc, out, err = run_cmd(capsys, write_spec(tmp_path, text), "--out", tmp_path / "o",
                           "--format", "json", "--no-progress")
    assert rc == 0, err
    report = json.loads(out)
    assert report["scoring"] == "f1_macro"
    ev = report["held_out"]["eval"]
    assert ev["task"] == "multiclass" and ev["classes"] == [0, 1, 2]
    assert "roc_auc" not in ev["metrics"]  # no score column for multiclass
    assert report["files"][-2].endswith("report.json")
    assert report["files"][-1].endswith("report.html")
    with open(tmp_path / "o" / "predictions.csv", newline="") as f:
        assert next(csv.reader(f)) == ["y_true", "y_pred"]
    y_test = held_out("iris", 1, 0.25)[3]
    pred = [int(r["y_pred"]) for r in csv.DictReader(open(tmp_path / "o" / "predictions.csv"))]
    assert report["held_out"]["score"] == pytest.approx(
        skm.f1_score(y_test, pred, average="macro"), rel=1e-12)


def test_run_regressor_uses_its_own_score(tmp_path, capsys):
    text = """
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
    rc, out, err = run_cmd(capsys, write_spec(tmp_path, text), "--out", tmp_path / "o",
                           "--no-progress")
    assert rc == 0, err
    assert "score (5-fold CV on" in out  # not stratified: a regressor
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["held_out"]["eval"] is None
    from sklearn.linear_model import Ridge

    X_train, X_test, y_train, y_test = held_out("diabetes", 0, 0.25, stratify=False)
    model = Ridge(**report["best_params"]).fit(X_train, y_train)
    assert report["held_out"]["score"] == pytest.approx(
        skm.r2_score(y_test, model.predict(X_test)), rel=1e-12)


def test_run_without_spec_uses_the_bundled_one(tmp_path, capsys):
    out_dir = tmp_path / "calipers-run"
    rc, out, err = run_cmd(capsys, "--out", out_dir, "--n-trials", "2", "--no-progress")
    assert rc == 0, err
    assert (out_dir / "calipers-study.db").is_file()  # the study goes into --out
    assert "study: breast-cancer-hgb" in out
    assert "roc_auc (5-fold stratified CV on 426 rows)" in out
    study = calipers.load_study(study_name="breast-cancer-hgb",
                                storage=f"sqlite:///{out_dir}/calipers-study.db")
    assert len(study.trials) == 2
    assert set(study.best_params) == {"learning_rate", "max_leaf_nodes", "min_samples_leaf",
                                      "l2_regularization"}


def test_run_with_no_complete_trial_is_an_error(tmp_path, capsys):
    bad = SPEC.replace("max_iter = 15,", "max_iter = 15, loss = 'no_such_loss',")
    rc, out, err = run_cmd(capsys, write_spec(tmp_path, bad), "--out", tmp_path / "o",
                           "--no-progress")
    assert rc == 2
    assert out == ""
    assert err.startswith("calipers run: error: no trial of study 'r' completed")
    assert "calipers study show" in err


def test_subprocess(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "calipers.cli.main", "run", str(write_spec(tmp_path)), "--out",
         str(tmp_path / "o"), "--n-trials", "1"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "held-out roc_auc:" in proc.stdout
    assert proc.stderr == ""


NO_SKLEARN = '''
import sys


class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "sklearn" or name.startswith("sklearn."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Block())
from calipers.cli.main import main

sys.exit(main(["run", "--out", sys.argv[1]]))
'''


def test_run_without_sklearn_names_the_extra(tmp_path):
    """Without scikit-learn, `calipers run` says which pip extra installs it (it used to
    print a bare "No module named 'sklearn'")."""
    out = subprocess.run([sys.executable, "-c", NO_SKLEARN, str(tmp_path / "run")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    err = out.stderr.strip().splitlines()[-1]
    assert err.startswith("calipers run: error:") and "No module named 'sklearn'" in err
    assert err.endswith("pip install 'calipers[sklearn]' (from a checkout: pip install "
                        "'.[sklearn]')")


def test_readme_install_lines_work_from_a_checkout():
    """calipers is not on an index: the README installs extras as ".[extra]" and says so."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert 'pip install "calipers[' not in text
    assert "is not on a package index" in text
