"""Tests of ``calipers tune``: end to end on bundled and CSV data, resume, errors, parity.

Each CV score the study stores must equal scikit-learn's ``cross_val_score`` of the
same parameters on the same rows and folds.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sk = pytest.importorskip("sklearn")

import calipers  # noqa: E402
from calipers.cli import tune as cli_tune  # noqa: E402
from calipers.cli.main import main  # noqa: E402

SPEC = """
study_name = "t"
seed = 4
scoring = "roc_auc"

[data]
dataset = "breast_cancer"
test_size = 0.3

[estimator]
class = "sklearn.ensemble.HistGradientBoostingClassifier"
params = { max_iter = 15, early_stopping = false, random_state = 0 }

[space]
learning_rate = { type = "float", low = 0.02, high = 0.5, log = true }
max_leaf_nodes = { type = "int", low = 4, high = 32, log = true }

[searcher]
name = "random"

[budget]
n_trials = 4

[cv]
n_splits = 3
"""


def write_spec(tmp_path: Path, text: str = SPEC, name: str = "spec.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def run_tune(capsys, *argv):
    parser = argparse.ArgumentParser(prog="calipers")
    cli_tune.add_parser(parser.add_subparsers())
    args = parser.parse_args(["tune", *map(str, argv)])
    rc = cli_tune.run(args)
    out, err = capsys.readouterr()
    return rc, out, err


def load(tmp_path: Path, name: str = "t", db: str = "calipers-study.db"):
    return calipers.load_study(study_name=name, storage=f"sqlite:///{tmp_path / db}")


def sklearn_cv(params, *, fixed, seed, test_size, n_splits, scoring, dataset="breast_cancer"):
    from sklearn import datasets
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split

    X, y = getattr(datasets, f"load_{dataset}")(return_X_y=True)
    X_train, _, y_train, _ = train_test_split(X, y, test_size=test_size, random_state=seed,
                                              stratify=y)
    cv = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    est = HistGradientBoostingClassifier(**fixed, **params)
    return cross_val_score(est, X_train, y_train, cv=cv, scoring=scoring).mean()


def test_tune_end_to_end_matches_sklearn(tmp_path, capsys):
    spec = write_spec(tmp_path)
    rc, out, err = run_tune(capsys, spec, "--no-progress")
    assert rc == 0, err
    assert err == ""
    assert (tmp_path / "calipers-study.db").is_file()  # next to the spec
    study = load(tmp_path)
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    assert {str(t.state) for t in study.trials} == {"COMPLETE"}
    assert study.direction == "maximize"
    fixed = {"max_iter": 15, "early_stopping": False, "random_state": 0}
    for t in study.trials:
        assert 0.02 <= t.params["learning_rate"] <= 0.5
        assert 4 <= t.params["max_leaf_nodes"] <= 32
        expected = sklearn_cv(t.params, fixed=fixed, seed=4, test_size=0.3, n_splits=3,
                              scoring="roc_auc")
        assert t.value == pytest.approx(expected, rel=1e-12, abs=1e-12)
    best = study.best_trial
    assert f"best trial: #{best.number}" in out
    assert f"roc_auc (3-fold stratified CV on {int(round(569 * 0.7))} rows)" in out
    assert "trials: 4 (4 complete)" in out
    for name, value in best.params.items():
        assert re.search(rf"^{name}\s+{re.escape(f'{value:.6g}')}$", out, re.M), out


def test_resume_runs_only_the_rest(tmp_path, capsys):
    spec = write_spec(tmp_path)
    assert run_tune(capsys, spec, "--no-progress", "--n-trials", "2")[0] == 0
    first = [(t.number, t.params) for t in load(tmp_path).trials]
    rc, out, _ = run_tune(capsys, spec, "--no-progress")
    assert rc == 0
    assert "this run: 2" in out and "resumed after 2" in out
    study = load(tmp_path)
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    assert [(t.number, t.params) for t in study.trials[:2]] == first
    rc, out, _ = run_tune(capsys, spec, "--no-progress")
    assert rc == 0 and "nothing to run: 4 finished trials of n_trials=4" in out
    assert len(load(tmp_path).trials) == 4


def test_same_seed_same_trials_as_a_resumed_study(tmp_path, capsys):
    """Two fresh studies with one seed propose the same parameters."""
    spec = write_spec(tmp_path)
    assert run_tune(capsys, spec, "--no-progress", "--study-name", "a")[0] == 0
    assert run_tune(capsys, spec, "--no-progress", "--study-name", "b")[0] == 0
    a, b = load(tmp_path, "a").trials, load(tmp_path, "b").trials
    assert [(t.params, t.value) for t in a] == [(t.params, t.value) for t in b]
    assert run_tune(capsys, spec, "--no-progress", "--study-name", "c", "--seed", "5")[0] == 0
    c = load(tmp_path, "c").trials
    assert [t.params for t in c] != [t.params for t in a]


def test_progress_bar_shows_best_so_far(tmp_path, capsys):
    rc, out, err = run_tune(capsys, write_spec(tmp_path), "--progress", "--n-trials", "2")
    assert rc == 0
    assert "tuning t" in err and "2/2" in err
    assert re.search(r"best=0\.9\d+", err), err


def test_storage_and_name_overrides(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path)
    rc, out, err = run_tune(capsys, "spec.toml", "--no-progress", "--storage", "other.db",
                            "--study-name", "x", "--n-trials", "1")
    assert rc == 0, err
    assert not (tmp_path / "calipers-study.db").exists()
    assert len(load(tmp_path, "x", "other.db").trials) == 1


def test_csv_data_with_string_labels(tmp_path, capsys):
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    lines = ["a,b,c,d,species"] + [
        ",".join(f"{v:g}" for v in row) + f",{lab}" for row, lab in zip(X, names, strict=True)]
    (tmp_path / "iris.csv").write_text("\n".join(lines) + "\n")
    text = """
scoring = "f1_macro"
[data]
path = "iris.csv"
target = "species"
features = ["a", "b", "d"]
[estimator]
class = "sklearn.linear_model.LogisticRegression"
params = { max_iter = 500 }
[space]
C = { type = "float", low = 0.01, high = 10.0, log = true }
[searcher]
name = "grid"
[budget]
n_trials = 3
"""
    spec = write_spec(tmp_path, text.replace('type = "float", low = 0.01, high = 10.0, '
                                             'log = true', 'type = "categorical", '
                                             'choices = [0.1, 1.0, 10.0]'), "iris.toml")
    rc, out, err = run_tune(capsys, spec, "--no-progress")
    assert rc == 0, err
    study = load(tmp_path, "iris")
    assert sorted(t.params["C"] for t in study.trials) == [0.1, 1.0, 10.0]
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split

    Xs = X[:, [0, 1, 3]]
    X_train, _, y_train, _ = train_test_split(Xs, names, test_size=0.25, random_state=0,
                                              stratify=names)
    for t in study.trials:
        expected = cross_val_score(LogisticRegression(max_iter=500, C=t.params["C"]),
                                   X_train, y_train, scoring="f1_macro",
                                   cv=StratifiedKFold(5, shuffle=True, random_state=0)).mean()
        assert t.value == pytest.approx(expected, rel=1e-12)


def error_line(capsys, *argv) -> str:
    rc, out, err = run_tune(capsys, *argv)
    assert rc == 2, (out, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("calipers tune: error: ")
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    ("old", "new", "pattern"),
    [
        ('name = "random"', 'name = "nope"', r"\[searcher\] name 'nope' is not a registered "
                                             r"searcher \(registered: .*random"),
        ('scoring = "roc_auc"', 'scoring = "auc_roc"', r"scoring: unknown scoring 'auc_roc'; "
                                                       r"valid names: .*roc_auc"),
        ("max_leaf_nodes = {", "max_leafs = {", r"\[space\] 'max_leafs' is not a parameter of "
                                                r"HistGradientBoostingClassifier"),
        ("sklearn.ensemble.HistGradientBoostingClassifier", "sklearn.ensemble.Nope",
         r"'sklearn.ensemble' has no class 'Nope'"),
        ("sklearn.ensemble.HistGradientBoostingClassifier", "nopkg_xyz.Model",
         r"cannot import 'nopkg_xyz'"),
        ("max_iter = 15,", "max_iterations = 15,", r"\[estimator\] params: .*max_iterations"),
        ("max_iter = 15,", "max_iter = 15, learning_rate = 0.1,",
         r"'learning_rate' is both in \[estimator\] params and in \[space\]"),
        ("high = 0.5, log", "high = 0.01, log", r"\[space\] learning_rate: "),
        ("n_trials = 4", "n_trials = 4\nn_trails = 5", r"unknown key 'n_trails' in \[budget\]"),
    ],
)
def test_errors_are_one_line(tmp_path, capsys, old, new, pattern):
    assert old in SPEC
    line = error_line(capsys, write_spec(tmp_path, SPEC.replace(old, new, 1)), "--no-progress")
    assert re.search(pattern, line), line
    assert not (tmp_path / "calipers-study.db").exists() or "scoring" not in pattern


def test_data_file_errors(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("a,b,y\n1,x,0\n2,y,1\n3,z,0\n4,w,1\n")
    base = SPEC.replace('dataset = "breast_cancer"', 'path = "d.csv"\ntarget = "y"')
    line = error_line(capsys, write_spec(tmp_path, base), "--no-progress")
    assert "feature columns must be numeric; not numeric: b" in line
    line = error_line(capsys, write_spec(tmp_path, base.replace('target = "y"',
                                                                 'target = "label"')))
    assert "target column 'label' is not in d.csv (columns: a, b, y)" in line
    line = error_line(capsys, write_spec(tmp_path, base.replace('"d.csv"', '"missing.csv"')))
    assert "no such file" in line and "missing.csv" in line
    line = error_line(capsys, tmp_path / "none.toml")
    assert "no such spec file" in line


def test_all_trials_failing_is_reported(tmp_path, capsys):
    bad = SPEC.replace("max_iter = 15,", "max_iter = 15, loss = 'no_such_loss',")
    rc, out, err = run_tune(capsys, write_spec(tmp_path, bad), "--no-progress", "--n-trials",
                            "2")
    assert rc == 0, err
    assert "trials: 2 (2 failed)" in out
    assert "no trial completed" in out
    assert {str(t.state) for t in load(tmp_path).trials} == {"FAILED"}


def test_main_and_subprocess(tmp_path):
    spec = write_spec(tmp_path)
    assert main(["tune", str(spec), "--no-progress", "--n-trials", "1"]) == 0
    proc = subprocess.run([sys.executable, "-m", "calipers.cli.main", "tune", str(spec),
                           "--n-trials", "2"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "trials: 2 (2 complete)" in proc.stdout
    assert proc.stderr == ""  # no bar when stderr is not a terminal


def test_parallel_trials_are_the_same_trials(tmp_path, capsys):
    """--n-jobs 2 runs trials in worker processes: the same (params, value) per number."""
    spec = write_spec(tmp_path)
    assert run_tune(capsys, spec, "--no-progress", "--study-name", "one")[0] == 0
    rc, _, err = run_tune(capsys, spec, "--no-progress", "--study-name", "two", "--n-jobs", "2")
    assert rc == 0, err
    one, two = load(tmp_path, "one").trials, load(tmp_path, "two").trials
    assert [(t.number, t.params, t.value) for t in one] == \
        [(t.number, t.params, t.value) for t in two]


# the default searcher (bayes), with a short start-up design so that 4 trials suffice
BAYES = SPEC.replace('[searcher]\nname = "random"', "[searcher]\nn_startup_trials = 2")


def test_n_jobs_with_the_default_searcher_runs_trials_in_parallel(tmp_path, capsys):
    """``--n-jobs 2`` with bayes and no batch size: rounds of 2 trials run at once, with
    no warning that trials run one at a time (before: batch size 1, serial, a warning)."""
    import warnings

    assert "name =" not in BAYES.split("[searcher]")[1].split("[budget]")[0]
    spec = write_spec(tmp_path, BAYES)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rc, _, err = run_tune(capsys, spec, "--no-progress", "--n-jobs", "2")
    assert rc == 0, err
    assert not [w for w in caught if "batch_size" in str(w.message)], caught
    study = load(tmp_path)
    assert study.searcher.name == "bayes" and study.batch_size is None
    trials = study.trials
    assert len(trials) == 4
    for r in range(2):  # trial 2r+1 started before trial 2r's end was recorded
        assert trials[2 * r + 1].datetime_start < trials[2 * r].datetime_complete, r


def test_batch_size_option_gives_the_parallel_runs_trials(tmp_path, capsys):
    """Same seed, same batch size (given by --batch-size, or resolved from --n-jobs):
    the same trials; a serial run (batch size 1) proposes other ones."""
    spec = write_spec(tmp_path, BAYES)
    for name, *extra in (("given", "--batch-size", "2"), ("resolved", "--n-jobs", "2"),
                         ("serial",)):
        rc, _, err = run_tune(capsys, spec, "--no-progress", "--study-name", name, *extra)
        assert rc == 0, err
    given, resolved, serial = (
        [(t.number, t.params, t.value) for t in load(tmp_path, name).trials]
        for name in ("given", "resolved", "serial"))
    assert given == resolved
    assert serial[:3] == given[:3] and serial[3] != given[3]  # trial 3 saw trial 2 or not
    assert load(tmp_path, "given").batch_size == 2


def test_all_spec_problems_are_reported_at_once(tmp_path, capsys):
    bad = (SPEC.replace("seed = 4", "seed = -4")
           .replace('scoring = "roc_auc"', 'scoring = "auc_roc"')
           .replace("n_trials = 4", "n_trials = 4\nn_trails = 5")
           .replace("n_splits = 3", "n_splits = 1")
           .replace("max_leaf_nodes = {", "max_leafs = {"))
    rc, out, err = run_tune(capsys, write_spec(tmp_path, bad), "--no-progress")
    assert rc == 2 and out == "" and "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[0] == f"calipers tune: error: {tmp_path / 'spec.toml'}: 5 problems:", err
    assert len(lines) == 6 and all(line.startswith("  - ") for line in lines[1:]), err
    for pattern in (r"^  - seed must be an integer >= 0, got -4$",
                    r"^  - unknown key 'n_trails' in \[budget\]",
                    r"^  - \[cv\] n_splits must be an integer >= 2, got 1$",
                    r"^  - \[space\] 'max_leafs' is not a parameter of "
                    r"HistGradientBoostingClassifier",
                    r"^  - scoring: unknown scoring 'auc_roc'"):
        assert re.search(pattern, err, re.M), (pattern, err)
    assert not (tmp_path / "calipers-study.db").exists()
