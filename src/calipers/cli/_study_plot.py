"""``calipers study plot``: optimization history and parameter importances of a study.

Parameter importance (:func:`param_importances`) is a "fANOVA-lite": the share of
the objective's variance that each parameter explains on its own (its main effect).

- With scikit-learn: a small random forest (64 trees, seeded) is fitted to the
  COMPLETE trials' values over their encoded parameters (``space.encode``: log
  parameters in log space, categoricals one-hot). A parameter's main effect is the
  forest's prediction averaged over the trials with that parameter set to each of
  its observed values (up to 16 quantiles); its importance is the variance of that
  curve divided by the variance of the forest's predictions on the trials. This is
  fANOVA's first-order term with the trials as the background distribution.
- Without scikit-learn: a one-parameter fit instead of the forest: the squared
  correlation of a numeric parameter (encoded) with the value, and the correlation
  ratio (between-group share of the variance) of a categorical one.

Either way the numbers are in [0, 1]; they need not sum to 1 (interactions and noise
take the rest). The method used is printed in the picture.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["param_importances", "plot_study"]

_MAX_SETTINGS = 16


def _complete(study: Any) -> list[Any]:
    return [t for t in sorted(study.trials, key=lambda t: t.number)
            if str(getattr(t.state, "value", t.state)) == "COMPLETE"
            and t.value is not None and math.isfinite(t.value)]


def param_importances(study: Any, method: str = "auto") -> tuple[dict[str, float], str]:
    """Return ``({parameter: importance}, method)`` for the study's COMPLETE trials.

    Parameters
    ----------
    study : calipers.search.Study
    method : {"auto", "forest", "correlation"}
        ``"auto"`` uses the forest when scikit-learn is installed.

    Returns
    -------
    dict, str
        Importances in [0, 1] by parameter (in the space's order; parameters that
        never varied get 0), and ``"forest"`` or ``"correlation"``.

    Raises
    ------
    ValueError
        With fewer than 3 COMPLETE trials.
    """
    trials = _complete(study)
    if len(trials) < 3:
        raise ValueError(f"parameter importances need at least 3 COMPLETE trials, "
                         f"study {study.study_name!r} has {len(trials)}")
    space = study.space
    X = np.array([space.encode(t.params) for t in trials], dtype=float)
    y = np.array([t.value for t in trials], dtype=float)
    if method == "auto":
        from calipers._extras import available

        method = "forest" if available("sklearn") else "correlation"
    if method not in ("forest", "correlation"):
        raise ValueError(f"method must be 'auto', 'forest' or 'correlation', got {method!r}")
    names = list(space.names)
    if np.ptp(y) == 0:
        return {n: 0.0 for n in names}, method
    if method == "forest":
        return _forest(space, names, X, y), method
    return _correlation(space, names, X, y), method


def _forest(space: Any, names: list[str], X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    from sklearn.ensemble import RandomForestRegressor

    forest = RandomForestRegressor(n_estimators=64, min_samples_leaf=1, random_state=0,
                                   n_jobs=1).fit(X, y)
    total = float(np.var(forest.predict(X)))
    out = {}
    for name in names:
        sl = space.slice(name)
        settings, weights = _settings(X[:, sl])
        if len(settings) < 2 or total == 0:
            out[name] = 0.0
            continue
        means = []
        for v in settings:
            Xv = X.copy()
            Xv[:, sl] = v
            means.append(float(forest.predict(Xv).mean()))
        m = np.asarray(means)
        mean = np.average(m, weights=weights)
        out[name] = float(min(np.average((m - mean) ** 2, weights=weights) / total, 1.0))
    return out


def _settings(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The observed values of one parameter's columns, with their frequencies."""
    rows, counts = np.unique(block, axis=0, return_counts=True)
    if len(rows) <= _MAX_SETTINGS:
        return rows, counts.astype(float)
    # A numeric parameter with many values: its quantiles, equally weighted.
    q = np.quantile(block[:, 0], np.linspace(0, 1, _MAX_SETTINGS))
    return q[:, None], np.ones(_MAX_SETTINGS)


def _correlation(space: Any, names: list[str], X: np.ndarray, y: np.ndarray
                 ) -> dict[str, float]:
    out = {}
    total = float(np.sum((y - y.mean()) ** 2))
    for name in names:
        block = X[:, space.slice(name)]
        if block.shape[1] == 1 and space.columns[space.slice(name).start][1] != "onehot":
            x = block[:, 0]
            if np.ptp(x) == 0:
                out[name] = 0.0
                continue
            r = np.corrcoef(x, y)[0, 1]
            out[name] = float(r * r)
        else:  # correlation ratio over the groups of equal settings
            _, groups = np.unique(block, axis=0, return_inverse=True)
            groups = groups.ravel()
            between = sum(
                np.sum(groups == g) * (y[groups == g].mean() - y.mean()) ** 2
                for g in np.unique(groups)
            )
            out[name] = float(between / total)
    return out


def plot_study(study: Any, out: str | Path) -> Path:
    """Draw the history (values and best so far) and the importances into ``out`` (PNG).

    Raises
    ------
    calipers.errors.MissingExtraError
        If matplotlib is not installed (``pip install 'calipers[plot]'``).
    ValueError
        If the study has no COMPLETE trial.
    """
    from calipers.metrics._plot import pyplot

    plt = pyplot("calipers study plot")
    trials = _complete(study)
    if not trials:
        raise ValueError(f"study {study.study_name!r} has no COMPLETE trial to plot")
    maximize = str(study.direction) == "maximize"
    numbers = np.array([t.number for t in trials])
    values = np.array([t.value for t in trials], dtype=float)
    best = np.maximum.accumulate(values) if maximize else np.minimum.accumulate(values)

    fig, (ax_h, ax_i) = plt.subplots(1, 2, figsize=(12, 4.5),
                                     gridspec_kw={"width_ratios": [3, 2]})
    try:
        ax_h.scatter(numbers, values, s=18, alpha=0.7, label="trial value")
        ax_h.step(numbers, best, where="post", color="C3", label="best so far")
        ax_h.set_xlabel("trial number")
        ax_h.set_ylabel("objective")
        ax_h.set_title(f"{study.study_name}: optimization history "
                       f"({'maximize' if maximize else 'minimize'})")
        ax_h.legend(loc="best")
        ax_h.grid(alpha=0.3)
        try:
            importances, method = param_importances(study)
        except ValueError as exc:
            ax_i.text(0.5, 0.5, str(exc), ha="center", va="center", wrap=True)
            ax_i.set_axis_off()
        else:
            names = list(importances)[::-1]
            ax_i.barh(names, [importances[n] for n in names], color="C0")
            ax_i.set_xlim(0, max(1e-9, max(importances.values())) * 1.1)
            ax_i.set_xlabel("share of variance explained (main effect)")
            ax_i.set_title(f"parameter importance ({method})")
            ax_i.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        path = Path(out)
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True)
        fig.savefig(path, format="png", dpi=100)
    finally:
        plt.close(fig)
    return path
