"""Tests of ``calipers study show`` / ``calipers study plot`` and the parameter importances."""

from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np
import pytest

import calipers
from calipers.cli import study as cli_study
from calipers.cli._study_plot import param_importances
from calipers.search import Categorical, Float, Int

SPACE = {"x": Float(-3.0, 3.0), "noise": Float(1e-3, 1.0, log=True), "k": Int(1, 4),
         "c": Categorical(["a", "b", "c"])}


def objective(trial):
    if trial.number == 2:
        raise RuntimeError("boom")
    p = trial.params
    return (p["x"] - 1.0) ** 2 + 0.01 * p["k"]


def make_db(path, name="s", n_trials=12, direction="minimize", obj=objective, seed=0):
    study = calipers.create_study(space=SPACE, searcher="random", seed=seed,
                                  storage=f"sqlite:///{path}", study_name=name,
                                  direction=direction)
    study.optimize(obj, n_trials=n_trials)
    return study


def run_study(capsys, *argv):
    parser = argparse.ArgumentParser(prog="calipers")
    cli_study.add_parser(parser.add_subparsers())
    args = parser.parse_args(["study", *map(str, argv)])
    rc = cli_study.run(args)
    out, err = capsys.readouterr()
    return rc, out, err


def test_show_table(tmp_path, capsys):
    db = tmp_path / "s.db"
    study = make_db(db)
    rc, out, err = run_study(capsys, "show", db)
    assert rc == 0, err
    lines = out.splitlines()
    best = study.best_trial
    assert lines[0] == (f"study: s   direction: minimize   trials: 12   best: "
                        f"#{best.number} = {best.value:.6g}")
    header = lines[2].split()
    assert header == ["number", "state", "value", "duration_s", "x", "noise", "k", "c"]
    rows = [ln.split() for ln in lines[3:]]
    assert [int(r[0]) for r in rows] == list(range(12))
    failed = rows[2]
    assert failed[1:3] == ["FAILED", "-"]
    for r, t in zip(rows, study.trials, strict=True):
        assert r[1] == str(t.state)
        if str(t.state) == "COMPLETE":
            assert float(r[2]) == pytest.approx(t.value, rel=1e-5)
        assert float(r[3]) == pytest.approx(t.duration.total_seconds(), abs=0.006)
        assert float(r[4]) == pytest.approx(t.params["x"], rel=1e-5)
        assert r[7] == t.params["c"]


def test_show_sorted_limited_and_json(tmp_path, capsys):
    db = tmp_path / "s.db"
    study = make_db(db, direction="maximize")
    rc, out, _ = run_study(capsys, "show", db, "--sort", "value", "--limit", "3")
    assert rc == 0
    rows = [ln.split() for ln in out.splitlines()[3:6]]
    complete = sorted((t for t in study.trials if str(t.state) == "COMPLETE"),
                      key=lambda t: -t.value)
    assert [int(r[0]) for r in rows] == [t.number for t in complete[:3]]
    assert out.splitlines()[-1] == "(9 more; drop --limit to see all)"
    rc, out, _ = run_study(capsys, "show", db, "--format", "json", "--sort", "value")
    data = json.loads(out)
    assert data["study_name"] == "s" and data["direction"] == "maximize"
    assert [t["number"] for t in data["trials"]][:11] == [t.number for t in complete]
    last = data["trials"][-1]
    assert last["state"] == "FAILED" and last["value"] is None
    assert "RuntimeError: boom" in last["fail_reason"]


def test_several_studies_are_listed(tmp_path, capsys):
    db = tmp_path / "s.db"
    make_db(db, "first", n_trials=4)
    make_db(db, "second", n_trials=5, direction="maximize")
    rc, out, err = run_study(capsys, "show", db)
    assert rc == 0, err
    assert out.startswith(f"{db} holds 2 studies; show one with --study-name NAME")
    rows = [ln.split() for ln in out.splitlines()[3:]]
    assert [r[:4] for r in rows] == [["first", "4", "3", "minimize"],
                                     ["second", "5", "4", "maximize"]]
    rc, out, _ = run_study(capsys, "show", db, "--study-name", "second")
    assert rc == 0 and out.startswith("study: second")
    rc, out, err = run_study(capsys, "show", db, "--study-name", "third")
    assert rc == 2 and out == ""
    assert err.strip() == (f"calipers study show: error: {db} has no study named 'third'; "
                           "its studies: first, second")
    rc, _, err = run_study(capsys, "plot", db, "--out", tmp_path / "h.png")
    assert rc == 2 and "choose one with --study-name" in err


def test_missing_database_is_not_created(tmp_path, capsys):
    for db in (tmp_path / "nope.db", f"sqlite:///{tmp_path / 'nope.db'}"):
        rc, out, err = run_study(capsys, "show", db)
        assert rc == 2 and out == ""
        assert "no such study database" in err
        assert not (tmp_path / "nope.db").exists()


def test_plot_writes_a_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    db = tmp_path / "s.db"
    make_db(db, n_trials=10)
    out_png = tmp_path / "pics" / "history.png"
    rc, out, err = run_study(capsys, "plot", db, "--out", out_png)
    assert rc == 0, err
    assert out == f"wrote {out_png}\n"
    data = out_png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_plot_with_too_few_trials_still_draws_the_history(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    db = tmp_path / "s.db"
    make_db(db, n_trials=2)
    rc, _, err = run_study(capsys, "plot", db, "--out", tmp_path / "h.png")
    assert rc == 0, err
    assert (tmp_path / "h.png").stat().st_size > 1000


def test_plot_without_matplotlib(tmp_path, capsys, monkeypatch):
    db = tmp_path / "s.db"
    make_db(db, n_trials=3)
    for mod in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    rc, out, err = run_study(capsys, "plot", db, "--out", tmp_path / "h.png")
    assert rc == 2 and out == ""
    assert "calipers study plot requires matplotlib: pip install 'calipers[plot]'" in err
    assert not (tmp_path / "h.png").exists()


# -- parameter importances -------------------------------------------------------------------


def _study_of(values_of, n=60, seed=0):
    study = calipers.create_study(space=SPACE, searcher="random", seed=seed)
    study.optimize(lambda t: values_of(t.params), n_trials=n)
    return study


@pytest.mark.parametrize("method", ["forest", "correlation"])
def test_importance_finds_the_parameter_that_matters(method):
    if method == "forest":
        pytest.importorskip("sklearn")
    study = _study_of(lambda p: 3.0 * p["x"])
    imp, used = param_importances(study, method=method)
    assert used == method
    assert list(imp) == ["x", "noise", "k", "c"]
    assert imp["x"] > 0.8
    assert max(imp["noise"], imp["k"], imp["c"]) < 0.1
    assert all(0.0 <= v <= 1.0 for v in imp.values())


@pytest.mark.parametrize("method", ["forest", "correlation"])
def test_importance_of_a_categorical_and_a_log_parameter(method):
    if method == "forest":
        pytest.importorskip("sklearn")
    shift = {"a": 0.0, "b": 5.0, "c": -5.0}
    study = _study_of(lambda p: shift[p["c"]] + math.log(p["noise"]))
    imp, _ = param_importances(study, method=method)
    assert imp["c"] > 0.6
    assert imp["noise"] > 0.05
    assert imp["c"] > imp["noise"] > max(imp["x"], imp["k"])


def test_importance_correlation_is_r_squared():
    study = _study_of(lambda p: p["x"] + (1.0 if p["c"] == "a" else 0.0), n=40)
    imp, _ = param_importances(study, method="correlation")
    trials = [t for t in study.trials if str(t.state) == "COMPLETE"]
    x = np.array([t.params["x"] for t in trials])
    y = np.array([t.value for t in trials])
    assert imp["x"] == pytest.approx(np.corrcoef(x, y)[0, 1] ** 2, rel=1e-9)
    groups = np.array([t.params["c"] for t in trials])
    between = sum((groups == g).sum() * (y[groups == g].mean() - y.mean()) ** 2
                  for g in set(groups))
    assert imp["c"] == pytest.approx(between / ((y - y.mean()) ** 2).sum(), rel=1e-9)


def test_importance_edge_cases():
    with pytest.raises(ValueError, match="at least 3 COMPLETE trials"):
        param_importances(_study_of(lambda p: p["x"], n=2))
    imp, _ = param_importances(_study_of(lambda p: 1.0, n=5))
    assert set(imp.values()) == {0.0}
    with pytest.raises(ValueError, match="method must be"):
        param_importances(_study_of(lambda p: p["x"], n=3), method="shap")


def test_show_is_read_only_and_needs_no_searcher(tmp_path, capsys):
    """A stale RUNNING trial stays RUNNING (show never recovers or writes), and a study
    made with a searcher that is not registered can still be shown and plotted."""
    import time

    from calipers.search import Searcher
    from calipers.search._storage import get_storage

    class Unregistered(Searcher):
        name = "not-registered"

        def _propose(self, number):
            return self.space.sample(self.trial_rng(number))

    db = tmp_path / "s.db"
    url = f"sqlite:///{db}"
    study = calipers.create_study(space=SPACE, searcher=Unregistered(SPACE, seed=0),
                                  storage=url, study_name="u")
    study.optimize(objective, n_trials=5)
    storage = get_storage(url)
    sid = storage.get_study("u").study_id
    storage.create_trial(sid, time.time() - 3600, params=study.trials[0].params)
    storage.close()
    with pytest.raises(ValueError, match="not-registered"):
        calipers.load_study(study_name="u", storage=url)
    rc, out, err = run_study(capsys, "show", db)
    assert rc == 0, err
    assert out.splitlines()[-1].split()[:3] == ["5", "RUNNING", "-"]
    storage = get_storage(url)
    trials, _ = storage.read_trials(sid, 0)
    storage.close()
    assert [str(t.state) for t in sorted(trials, key=lambda t: t.number)][-1] == "RUNNING"
    pytest.importorskip("matplotlib")
    rc, _, err = run_study(capsys, "plot", db, "--out", tmp_path / "u.png")
    assert rc == 0, err
