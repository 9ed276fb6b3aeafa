"""``calipers eval`` with third-party metrics: each gets the column its ``inputs`` names.

The metrics come from a real plugin distribution: a ``*.dist-info`` with an entry point
in group ``calipers`` written to ``tmp_path`` and put on ``sys.path``, found by
``importlib.metadata`` like an installed package.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from _declared_metrics import PositiveRate  # written into the plugin module below

from calipers import plugins
from calipers.cli.main import main

sk = pytest.importorskip("sklearn.metrics")

pytestmark = pytest.mark.usefixtures("fresh_host")

MODULE = "calipers_eval_plugin_metrics"

PLUGIN = '''
import numpy as np

import calipers
from calipers.metrics import Metric


{positive_rate}

class WeightedPositiveRate(Metric):
    """Weighted share of predictions equal to 1."""

    name = "weighted_positive_rate"

    def __init__(self):
        super().__init__()
        self.add_state("positives", 0.0, merge="sum")
        self.add_state("total", 0.0, merge="sum")

    def update(self, y_true, y_pred, sample_weight=None):
        p = np.asarray(y_pred)
        w = np.ones(p.shape[0]) if sample_weight is None else np.asarray(sample_weight)
        self.positives += float(w[p == 1].sum())
        self.total += float(w.sum())

    def compute(self):
        return self.positives / self.total if self.total else float("nan")


class MeanScore(Metric):
    """The mean of the scores: it needs the score column."""

    name = "mean_score"
    inputs = "scores"

    def __init__(self):
        super().__init__()
        self.add_state("sum", 0.0, merge="sum")
        self.add_state("n", 0, merge="sum")

    def update(self, y_true, y_score, sample_weight=None):
        s = np.asarray(y_score, dtype=float)
        if s.ndim != 1 or not np.all((s >= 0) & (s <= 1)):
            raise ValueError("mean_score takes scores in [0, 1]")
        self.sum += float(s.sum())
        self.n += s.size

    def compute(self):
        return self.sum / self.n if self.n else float("nan")


class LabelCounts(Metric):
    """How often each predicted code occurs (a dict value); update takes no weights."""

    name = "label_counts"

    def __init__(self):
        super().__init__()
        self.add_state("counts", np.zeros(2, dtype=np.int64), merge="sum")

    def update(self, y_true, y_pred):
        self.counts += np.bincount(np.asarray(y_pred, dtype=np.int64), minlength=2)[:2]

    def compute(self):
        return {"negative": int(self.counts[0]), "positive": int(self.counts[1])}


class BadInputs(Metric):
    name = "bad_inputs"
    inputs = "probabilities"

    def update(self, y_true, y_pred, sample_weight=None):
        pass

    def compute(self):
        return 0.0

    def reset(self):
        pass

    def merge(self, *others):
        return self


@calipers.hookimpl
def register_metric():
    return [PositiveRate, WeightedPositiveRate, MeanScore, LabelCounts, BadInputs]
'''


def write_plugin(root: Path) -> Path:
    """Write the plugin distribution ``calipers-eval-plugin-metrics`` under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    info = root / "calipers_eval_plugin_metrics-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: calipers-eval-plugin-metrics\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(f"[calipers]\neval-plugin-metrics = {MODULE}\n")
    (root / f"{MODULE}.py").write_text(
        textwrap.dedent(PLUGIN).replace("{positive_rate}", inspect.getsource(PositiveRate)))
    return root


@pytest.fixture
def site(tmp_path, monkeypatch):
    """The plugin installed on ``sys.path``; its module forgotten afterwards."""
    root = write_plugin(tmp_path / "site")
    monkeypatch.syspath_prepend(str(root))
    plugins.reload()
    yield root
    sys.modules.pop(MODULE, None)


@pytest.fixture
def data(tmp_path):
    """A binary predictions file: labels, predicted labels, scores, weights."""
    rng = np.random.default_rng(11)
    n = 300
    t = rng.integers(0, 2, n)
    s = np.round(np.clip(0.6 * t + 0.5 * rng.random(n) - 0.05, 0, 1), 4)
    p = (rng.random(n) < 0.3).astype(np.int64)  # unrelated to s: labels differ from s >= .5
    w = np.round(rng.random(n) * 2 + 0.1, 3)
    path = tmp_path / "preds.csv"
    pacsv.write_csv(pa.table({"t": t, "p": p, "s": s, "w": w}), path)
    return path, t, p, s, w


def run_eval(capsys, *argv):
    """Run ``calipers eval ARGV`` in-process; return (exit code, stdout, stderr)."""
    rc = main(["eval", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def eval_json(capsys, *argv):
    rc, out, err = run_eval(capsys, *argv, "--format", "json")
    assert rc == 0, err
    return json.loads(out)


def one_error(capsys, *argv) -> str:
    rc, out, err = run_eval(capsys, *argv)
    assert rc == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("calipers eval: error: "), err
    return lines[0]


def test_builtin_metrics_declare_their_inputs():
    """Every built-in metric that is not a confusion metric takes scores."""
    from calipers.metrics import ConfusionMetric, Metric

    assert Metric.inputs == "labels"
    for name in plugins.names("metric"):
        cls = plugins.get("metric", name)
        want = "labels" if issubclass(cls, ConfusionMetric) else "scores"
        assert cls.inputs == want, name


def test_labels_plugin_metric_by_name(site, data, capsys):
    path, t, p, _, _ = data
    got = eval_json(capsys, path, "--y-true", "t", "--y-pred", "p",
                    "--metrics", "positive_rate,accuracy", "--batch-size", 37)
    assert list(got["metrics"]) == ["positive_rate", "accuracy"]  # the requested order
    assert got["metrics"]["positive_rate"] == pytest.approx(np.mean(p == 1), rel=1e-12)
    assert got["metrics"]["accuracy"] == pytest.approx(sk.accuracy_score(t, p), rel=1e-12)
    rc, out, err = run_eval(capsys, path, "--y-true", "t", "--y-pred", "p",
                            "--metrics", "positive_rate,accuracy")
    assert rc == 0, err
    row = next(line for line in out.splitlines() if line.startswith("positive_rate"))
    assert row.split()[-1] == f"{np.mean(p == 1):.6f}"


def test_labels_plugin_metric_gets_labels_when_there_are_scores(site, tmp_path, capsys):
    """Default columns y_true, y_pred, y_score: the labels metric gets y_pred, the
    scores metrics y_score, in one pass."""
    rng = np.random.default_rng(3)
    t = rng.integers(0, 2, 200)
    s = np.round(rng.random(200), 4)
    p = (s >= 0.9).astype(np.int64)  # far from s >= 0.5, the thresholded scores
    path = tmp_path / "three.csv"
    pacsv.write_csv(pa.table({"y_true": t, "y_pred": p, "y_score": s}), path)
    got = eval_json(capsys, path, "--metrics", "positive_rate,mean_score,roc_auc,recall")
    m = got["metrics"]
    assert list(m) == ["positive_rate", "mean_score", "roc_auc", "recall"]
    assert m["positive_rate"] == pytest.approx(np.mean(p == 1), rel=1e-12)
    assert m["positive_rate"] != pytest.approx(np.mean(s >= 0.5))
    assert m["mean_score"] == pytest.approx(s.mean(), rel=1e-12)
    assert m["roc_auc"] == pytest.approx(sk.roc_auc_score(t, s), rel=1e-12)
    assert m["recall"] == pytest.approx(sk.recall_score(t, p), rel=1e-12)
    assert got["columns"] == {"y_true": "y_true", "y_pred": "y_pred", "y_score": "y_score"}


def test_scores_plugin_metric_gets_the_scores(site, data, capsys):
    path, t, _, s, _ = data
    got = eval_json(capsys, path, "--y-true", "t", "--y-score", "s",
                    "--metrics", "mean_score,accuracy", "--batch-size", 50)
    assert got["metrics"]["mean_score"] == pytest.approx(s.mean(), rel=1e-12)
    # The confusion metric still thresholds the scores.
    assert got["metrics"]["accuracy"] == pytest.approx(
        sk.accuracy_score(t, (s >= 0.5).astype(int)), rel=1e-12)
    msg = one_error(capsys, path, "--y-true", "t", "--y-pred", "p", "--metrics", "mean_score")
    assert "mean_score" in msg and "needs scores" in msg and "--y-score" in msg


def test_labels_plugin_metric_without_y_pred_is_a_clear_error(site, data, capsys):
    path = data[0]
    msg = one_error(capsys, path, "--y-true", "t", "--y-score", "s",
                    "--metrics", "accuracy,positive_rate")
    assert "'positive_rate'" in msg and "predicted labels" in msg and "--y-pred" in msg


def test_labels_plugin_metric_gets_the_encoded_labels(site, tmp_path, capsys):
    """String labels: the plugin sees codes, 1 for the positive class, like the
    confusion metrics (and its value agrees with theirs)."""
    t = np.array(["cat", "dog", "dog", "cat", "dog", "cat", "cat"])
    p = np.array(["dog", "dog", "cat", "cat", "dog", "dog", "cat"])
    path = tmp_path / "str.csv"
    pacsv.write_csv(pa.table({"t": t, "p": p}), path)
    for pos in ("dog", "cat"):
        got = eval_json(capsys, path, "--y-true", "t", "--y-pred", "p", "--pos-label", pos,
                        "--metrics", "positive_rate,recall")
        assert got["metrics"]["positive_rate"] == pytest.approx(np.mean(p == pos))
        assert got["metrics"]["recall"] == pytest.approx(
            sk.recall_score(t, p, pos_label=pos))


def test_sample_weights_reach_update_when_it_takes_them(site, data, capsys):
    path, _, p, _, w = data
    got = eval_json(capsys, path, "--y-true", "t", "--y-pred", "p", "--sample-weight", "w",
                    "--metrics", "weighted_positive_rate,positive_rate,label_counts",
                    "--batch-size", 64)
    m = got["metrics"]
    assert m["weighted_positive_rate"] == pytest.approx(np.average(p == 1, weights=w))
    assert m["positive_rate"] == pytest.approx(np.mean(p == 1))
    assert m["label_counts"] == {"negative": int(np.sum(p == 0)), "positive": int(np.sum(p))}
    # label_counts' update takes no sample_weight: computed unweighted, with a warning.
    rc, out, err = run_eval(capsys, path, "--y-true", "t", "--y-pred", "p",
                            "--sample-weight", "w", "--metrics", "label_counts")
    assert rc == 0
    assert "warning" in err and "'label_counts'" in err and "--sample-weight" in err


def test_dict_valued_plugin_metric_in_table_and_json(site, data, capsys):
    path, _, p, _, _ = data
    got = eval_json(capsys, path, "--y-true", "t", "--y-pred", "p",
                    "--metrics", "label_counts,f1")
    counts = {"negative": int(np.sum(p == 0)), "positive": int(np.sum(p == 1))}
    assert got["metrics"]["label_counts"] == counts
    rc, out, err = run_eval(capsys, path, "--y-true", "t", "--y-pred", "p",
                            "--metrics", "label_counts,f1")
    assert rc == 0, err
    rows = {tuple(line.split()[:2]): line.split()[-1] for line in out.splitlines()
            if line.startswith("label_counts")}
    assert rows == {("label_counts", k): f"{float(v):.6f}" for k, v in counts.items()}


def test_plugin_metrics_get_bootstrap_intervals(site, data, capsys):
    from calipers.metrics import bootstrap

    path, t, p, _, _ = data
    got = eval_json(capsys, path, "--y-true", "t", "--y-pred", "p",
                    "--metrics", "positive_rate,label_counts,accuracy",
                    "--bootstrap", 50, "--seed", 3)
    mod = sys.modules[MODULE]
    want = bootstrap(mod.PositiveRate(), t, p, n=50, seed=3)
    lo, hi = got["intervals"]["positive_rate"]
    assert (lo, hi) == (pytest.approx(want.low), pytest.approx(want.high))
    assert "accuracy" in got["intervals"]
    assert "label_counts" not in got["intervals"]  # a dict value has no interval


def test_bad_inputs_attribute_is_named(site, data, capsys):
    msg = one_error(capsys, data[0], "--y-true", "t", "--y-pred", "p", "--metrics", "bad_inputs")
    assert "'bad_inputs'" in msg and "'probabilities'" in msg and "'labels'" in msg


def test_plugin_metric_through_the_installed_command(site, data):
    """The real command in a fresh process finds the plugin by its entry point."""
    path, _, p, _, _ = data
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    env.pop(plugins.DISABLE_ENV, None)
    proc = subprocess.run(
        [sys.executable, "-m", "calipers.cli.main", "eval", str(path), "--y-true", "t",
         "--y-pred", "p", "--metrics", "positive_rate", "--format", "json"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    value = json.loads(proc.stdout)["metrics"]["positive_rate"]
    assert value == pytest.approx(np.mean(p == 1), rel=1e-12)
