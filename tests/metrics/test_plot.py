"""Pictures: RocCurve / PrCurve .plot(), the confusion-matrix plot, lazy matplotlib."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import calipers
from calipers.errors import MissingExtraError
from calipers.metrics import _plot
from calipers.metrics._curves import PrCurve, RocCurve

mpl = pytest.importorskip("matplotlib")
sk = pytest.importorskip("sklearn.metrics")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def _roc(seed=0, n=200):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = rng.random(n) + 0.4 * y
    fpr, tpr, thr = sk.roc_curve(y, s)
    return y, s, RocCurve(fpr, tpr, thr, float(sk.roc_auc_score(y, s)))


def _pr(seed=0, n=200):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = rng.random(n) + 0.4 * y
    p, r, thr = sk.precision_recall_curve(y, s)
    return y, PrCurve(p, r, thr, float(sk.average_precision_score(y, s)),
                      prevalence=float(y.mean()))


def _saved(fig, tmp_path, name):
    path = tmp_path / name
    fig.savefig(path)
    assert path.stat().st_size > 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path


def test_roc_plot_draws_the_curve_and_the_diagonal(tmp_path):
    _, _, roc = _roc()
    ax = roc.plot()
    curve, chance = ax.lines[:2]
    np.testing.assert_array_equal(curve.get_xdata(), roc.fpr)
    np.testing.assert_array_equal(curve.get_ydata(), roc.tpr)
    np.testing.assert_array_equal(chance.get_xdata(), [0, 1])
    np.testing.assert_array_equal(chance.get_ydata(), [0, 1])
    assert f"AUC = {roc.auc:.3f}" in curve.get_label()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == curve.get_label()
    assert ax.get_xlabel() == "False positive rate"
    assert ax.get_ylabel() == "True positive rate"
    lo, hi = ax.get_xlim()
    assert lo <= 0 and 1 <= hi < 1.05
    _saved(ax.figure, tmp_path, "roc.png")


def test_roc_plot_on_given_axes_with_label_and_style():
    import matplotlib.pyplot as plt

    _, _, roc = _roc(1)
    fig, ax = plt.subplots()
    got = roc.plot(ax, label="model A", color="red", linewidth=3)
    assert got is ax
    line = ax.lines[0]
    assert line.get_label() == f"model A (AUC = {roc.auc:.3f})"
    assert line.get_linewidth() == 3
    assert mpl.colors.to_hex(line.get_color()) == "#ff0000"


def test_pr_plot_is_a_step_plot_with_the_prevalence_baseline(tmp_path):
    y, pr = _pr()
    ax = pr.plot()
    curve, base = ax.lines[:2]
    np.testing.assert_array_equal(curve.get_xdata(), pr.recall)
    np.testing.assert_array_equal(curve.get_ydata(), pr.precision)
    assert curve.get_drawstyle() == "steps-post"
    np.testing.assert_allclose(base.get_ydata(), [y.mean(), y.mean()])
    assert f"AP = {pr.average_precision:.3f}" in curve.get_label()
    assert ax.get_xlabel() == "Recall" and ax.get_ylabel() == "Precision"
    _saved(ax.figure, tmp_path, "pr.png")


def test_pr_plot_without_prevalence_has_no_baseline():
    _, pr = _pr()
    bare = PrCurve(pr.precision, pr.recall, pr.thresholds, pr.average_precision)
    assert bare.prevalence is None
    ax = bare.plot()
    assert len(ax.lines) == 1


def test_curves_stay_frozen_dataclasses():
    _, _, roc = _roc()
    with pytest.raises(AttributeError):
        roc.auc = 0.0  # type: ignore[misc]


def test_confusion_matrix_plot_shows_the_counts(tmp_path):
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 300)
    p = np.where(rng.random(300) < 0.7, y, rng.integers(0, 3, 300))
    m = calipers.metric("confusion_matrix", task="multiclass", num_classes=3)
    m.update(y, p)
    ax = m.plot(labels=["cat", "dog", "bird"])
    expected = sk.confusion_matrix(y, p)
    np.testing.assert_array_equal(ax.images[0].get_array(), expected)
    texts = [t.get_text() for t in ax.texts]
    assert texts == [str(v) for v in expected.ravel()]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "bird"]
    assert ax.get_xlabel() == "Predicted label" and ax.get_ylabel() == "True label"
    _saved(ax.figure, tmp_path, "cm.png")


@pytest.mark.parametrize("normalize", ["true", "pred", "all"])
def test_confusion_matrix_plot_normalized(normalize):
    y = np.array([0, 0, 1, 1, 1, 2])
    p = np.array([0, 1, 1, 1, 2, 2])
    m = calipers.metric("confusion_matrix", task="multiclass", num_classes=3)
    m.update(y, p)
    ax = m.plot(normalize=normalize)
    expected = sk.confusion_matrix(y, p, normalize=normalize)
    np.testing.assert_allclose(ax.images[0].get_array(), expected)
    assert ax.texts[0].get_text() == format(expected[0, 0], ".3g")
    # the metric's own normalize option is the default
    m2 = calipers.metric("confusion_matrix", task="multiclass", num_classes=3,
                         normalize=normalize)
    m2.update(y, p)
    np.testing.assert_allclose(m2.plot().images[0].get_array(), expected)


def test_multilabel_confusion_matrix_draws_one_panel_per_label(tmp_path):
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, (50, 5))
    p = rng.integers(0, 2, (50, 5))
    m = calipers.metric("confusion_matrix", task="multilabel", num_labels=5)
    m.update(y, p)
    axes = m.plot(labels=list("abcde"))
    assert len(axes) == 5
    mcm = sk.multilabel_confusion_matrix(y, p)
    for ax, expected, name in zip(axes, mcm, "abcde", strict=True):
        np.testing.assert_array_equal(ax.images[0].get_array(), expected)
        assert ax.get_title() == name
    _saved(axes[0].figure, tmp_path, "mcm.png")


def test_plot_confusion_matrix_helper_and_its_checks():
    import matplotlib.pyplot as plt

    w = np.array([[1.5, 0.25], [0.0, 2.0]])
    ax = _plot.plot_confusion_matrix(w, colorbar=False)
    assert [t.get_text() for t in ax.texts] == ["1.5", "0.25", "0", "2"]
    ax = _plot.plot_confusion_matrix(np.eye(2, dtype=int), values_format="d", title="t")
    assert ax.get_title() == "t"
    with pytest.raises(ValueError, match="k x k"):
        _plot.plot_confusion_matrix(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="normalize"):
        _plot.plot_confusion_matrix(np.eye(2), normalize="rows")
    with pytest.raises(ValueError, match="3 names"):
        _plot.plot_confusion_matrix(np.eye(2), labels=["a", "b", "c"])
    _, axes = plt.subplots(1, 2)
    with pytest.raises(ValueError, match="needs 3 axes"):
        _plot.plot_confusion_matrix(np.zeros((3, 2, 2)), axes)


def test_import_calipers_does_not_import_matplotlib():
    code = (
        "import sys, calipers, calipers.metrics, calipers.metrics._curves; "
        "import calipers.metrics._plot, calipers.metrics._bootstrap; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_headless_uses_agg():
    code = (
        "import numpy as np; from calipers.metrics._curves import RocCurve; "
        "RocCurve(np.array([0., 1.]), np.array([0., 1.]), np.array([np.inf, 0.]), 0.5).plot(); "
        "import matplotlib; assert matplotlib.get_backend().lower() == 'agg', "
        "matplotlib.get_backend()"
    )
    env = {k: v for k, v in __import__("os").environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_missing_matplotlib_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    for key in [k for k in sys.modules if k == "matplotlib" or k.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, key)
    _, _, roc = _roc()
    with pytest.raises(MissingExtraError, match=r"calipers\[plot\]"):
        roc.plot()
