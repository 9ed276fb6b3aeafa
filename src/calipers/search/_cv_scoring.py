"""Scorers: ``scorer(estimator, X, y) -> float`` from calipers metric names.

A scorer asks a fitted estimator for the response its metric needs (``predict``,
``predict_proba`` or ``decision_function``, in scikit-learn's order of preference
for that metric), computes the metric with calipers' own drop-in functions
(:mod:`calipers.metrics`) and returns it with "greater is better" orientation
(losses are negated). The named scorers give the same numbers as scikit-learn's
``get_scorer(name)``; scikit-learn is never imported here.

Names: every scikit-learn classification scorer name calipers can compute
(``"accuracy"``, ``"f1_macro"``, ``"roc_auc_ovr"``, ``"neg_log_loss"``, ...), the
registry's metric names (``"mcc"``, ``"cohen_kappa"``, ``"log_loss"``, ...) and any
scalar metric a plugin registers (computed through its streaming class).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = ["Scorer", "check_scoring", "get_scorer", "scorer_names"]

_PREDICT = "predict"
_PROBA = "predict_proba"
_SCORES = ("decision_function", "predict_proba")

# name -> (calipers.metrics function, response method(s), sign, fixed kwargs)
_TABLE: dict[str, tuple[str, Any, int, dict[str, Any]]] = {
    "accuracy": ("accuracy_score", _PREDICT, 1, {}),
    "balanced_accuracy": ("balanced_accuracy_score", _PREDICT, 1, {}),
    "matthews_corrcoef": ("matthews_corrcoef", _PREDICT, 1, {}),
    "mcc": ("matthews_corrcoef", _PREDICT, 1, {}),
    "cohen_kappa": ("cohen_kappa_score", _PREDICT, 1, {}),
    "fbeta": ("fbeta_score", _PREDICT, 1, {"average": "binary"}),
    "hamming_loss": ("hamming_loss", _PREDICT, -1, {}),
    "neg_hamming_loss": ("hamming_loss", _PREDICT, -1, {}),
    "top_k_accuracy": ("top_k_accuracy_score", _SCORES, 1, {}),
    "roc_auc": ("roc_auc_score", _SCORES, 1, {}),
    "roc_auc_ovr": ("roc_auc_score", _PROBA, 1, {"multi_class": "ovr"}),
    "roc_auc_ovo": ("roc_auc_score", _PROBA, 1, {"multi_class": "ovo"}),
    "roc_auc_ovr_weighted": ("roc_auc_score", _PROBA, 1,
                             {"multi_class": "ovr", "average": "weighted"}),
    "roc_auc_ovo_weighted": ("roc_auc_score", _PROBA, 1,
                             {"multi_class": "ovo", "average": "weighted"}),
    "average_precision": ("average_precision_score", _SCORES, 1, {}),
    "neg_log_loss": ("log_loss", _PROBA, -1, {}),
    "log_loss": ("log_loss", _PROBA, -1, {}),
    "neg_brier_score": ("brier_score_loss", _PROBA, -1, {}),
    "brier_score": ("brier_score_loss", _PROBA, -1, {}),
    "brier_score_loss": ("brier_score_loss", _PROBA, -1, {}),
}
for _base, _func in (("precision", "precision_score"), ("recall", "recall_score"),
                     ("f1", "f1_score"), ("jaccard", "jaccard_score")):
    _TABLE[_base] = (_func, _PREDICT, 1, {"average": "binary"})
    for _avg in ("macro", "micro", "samples", "weighted"):
        _TABLE[f"{_base}_{_avg}"] = (_func, _PREDICT, 1, {"pos_label": None, "average": _avg})

#: Registry metrics whose value is not one number (no scorer can be made of them).
_NOT_SCALAR = frozenset({"confusion_matrix", "roc_curve", "pr_curve"})
#: Registry metrics that are losses (negated so that greater is better).
_LOSSES = frozenset({"log_loss", "brier_score", "hamming_loss"})


def _registry_names() -> list[str]:
    from calipers import plugins

    return [n for n in plugins.names("metric") if n not in _NOT_SCALAR]


def scorer_names() -> list[str]:
    """All valid scoring names, sorted: the aliases plus the registry's scalar metrics."""
    return sorted(set(_TABLE) | set(_registry_names()))


def _unknown(name: Any) -> ValueError:
    return ValueError(
        f"unknown scoring {name!r}; valid names: {', '.join(scorer_names())} "
        "(or pass a callable scorer(estimator, X, y), or None for estimator.score)"
    )


def _method(estimator: Any, response_method: Any) -> tuple[str, Callable[..., Any]]:
    names = (response_method,) if isinstance(response_method, str) else response_method
    for name in names:
        fn = getattr(estimator, name, None)
        if fn is not None:
            return name, fn
    raise AttributeError(
        f"{type(estimator).__name__} has none of the following attributes: "
        f"{', '.join(names)}."
    )


def response(estimator: Any, X: Any, response_method: Any, pos_label: Any = None
             ) -> np.ndarray:
    """The estimator's response for a metric, shaped as scikit-learn's scorers shape it.

    Binary classifiers: ``predict_proba`` gives the column of ``pos_label``
    (default: the last class), ``decision_function`` is negated when ``pos_label``
    is the first class. Multilabel ``predict_proba`` lists are stacked into
    (n, n_labels) positive-class probabilities.
    """
    name, fn = _method(estimator, response_method)
    out = fn(X)
    classes = getattr(estimator, "classes_", None)
    if classes is None or name == _PREDICT:
        return out
    if isinstance(classes, list):  # multilabel: one classes_ array per output
        if isinstance(out, list):
            return np.vstack([p[:, -1] for p in out]).T
        return out
    classes = np.asarray(classes)
    if len(classes) != 2:
        return out
    if pos_label is None:
        pos_label = classes[-1]
    elif pos_label not in classes.tolist():
        raise ValueError(f"pos_label={pos_label} is not a valid label: It should be one of "
                         f"{classes}")
    if name in ("predict_proba", "predict_log_proba"):
        out = np.asarray(out)
        if out.ndim != 2 or out.shape[1] < 2:
            raise ValueError(f"Got predict_proba of shape {out.shape}, but need classifier "
                             "with two classes.")
        return out[:, np.flatnonzero(classes == pos_label)[0]]
    if name == "decision_function" and pos_label == classes[0]:
        return -1 * np.asarray(out)
    return out


class Scorer:
    """A scikit-learn compatible scorer: ``scorer(estimator, X, y) -> float``.

    Greater is better: ``sign`` is -1 for losses. Build one with
    :func:`get_scorer`; the attributes describe what it does.

    Attributes
    ----------
    name : str
        The scoring name it was built from.
    sign : int
        1, or -1 for a loss.
    response_method : str or tuple of str
        The estimator method(s) it calls, in order of preference.
    kwargs : dict
        Options passed to the metric.
    """

    def __init__(self, name: str, score_func: Callable[..., Any], sign: int,
                 response_method: Any, kwargs: Mapping[str, Any]) -> None:
        self.name = name
        self.sign = sign
        self.response_method = response_method
        self.kwargs = dict(kwargs)
        self._score_func = score_func

    def _pos_label(self) -> Any:
        if "pos_label" in self.kwargs:
            return self.kwargs["pos_label"]
        try:
            param = inspect.signature(self._score_func).parameters.get("pos_label")
        except (TypeError, ValueError):
            return None
        return None if param is None else param.default

    def __call__(self, estimator: Any, X: Any, y_true: Any, sample_weight: Any = None
                 ) -> float:
        """Score fitted ``estimator`` on ``X`` against ``y_true``."""
        is_regressor = getattr(estimator, "classes_", None) is None
        pos_label = None if is_regressor else self._pos_label()
        y_out = response(estimator, X, self.response_method, pos_label)
        kwargs = dict(self.kwargs)
        if sample_weight is not None:
            kwargs["sample_weight"] = sample_weight
        return self.sign * float(self._score_func(y_true, y_out, **kwargs))

    def _accept_sample_weight(self) -> bool:
        # scikit-learn's search estimators ask their scorers this before passing weights
        return True

    def __repr__(self) -> str:
        opts = "".join(f", {k}={v!r}" for k, v in self.kwargs.items())
        return f"make_scorer({self.name!r}{opts})"

    def __reduce__(self) -> Any:
        # Rebuilt by name in worker processes (registry metrics included).
        return (_rebuild, (self.name, self._options))

    _options: dict[str, Any] = {}


def _rebuild(name: str, options: dict[str, Any]) -> Scorer:
    return get_scorer(name, **options)


class _RegistryMetric:
    """The score function of a registered streaming metric (e.g. a plugin's).

    Labels are encoded against ``classes`` (the estimator's, plus any other label
    seen); the task follows from the number of classes / the target's shape.
    """

    def __init__(self, name: str, cls: type, options: Mapping[str, Any]) -> None:
        self.name = name
        self.cls = cls
        self.options = dict(options)
        self.__name__ = name

    def __call__(self, y_true: Any, y_out: Any, sample_weight: Any = None,
                 classes: Any = None) -> float:
        y_true = np.asarray(y_true)
        y_out = np.asarray(y_out)
        if y_true.ndim == 2:  # multilabel indicators
            task, k, labels, out = "multilabel", y_true.shape[1], y_true, y_out
        else:
            seen = [y_true] + ([y_out] if y_out.ndim == 1 and _is_labels(y_out) else [])
            known = [] if classes is None else [np.asarray(classes)]
            classes = np.unique(np.concatenate(known + seen))
            k = len(classes)
            task = "binary" if k <= 2 else "multiclass"
            labels = np.searchsorted(classes, y_true)
            if y_out.ndim == 1 and _is_labels(y_out):
                out = np.searchsorted(classes, y_out)
            else:
                out = y_out
        kwargs: dict[str, Any] = dict(self.options)
        if task == "multiclass":
            kwargs["num_classes"] = k
        elif task == "multilabel":
            kwargs["num_labels"] = k
        m = self.cls(task, **kwargs)
        m.update(labels, out, sample_weight)
        value = m.compute()
        if np.ndim(value) != 0:
            raise ValueError(
                f"metric {self.name!r} returned {np.shape(value)} values, not one number; "
                "pick an average that gives one (e.g. average='macro')"
            )
        return float(value)


def _is_labels(y: np.ndarray) -> bool:
    return y.dtype.kind in "biuUSO"


def _registry_scorer(name: str, options: Mapping[str, Any]) -> Scorer:
    from calipers import plugins
    from calipers.metrics import ConfusionMetric

    cls = plugins.get("metric", name)
    if issubclass(cls, ConfusionMetric):
        method: Any = _PREDICT
    else:
        method = getattr(cls, "response_method", _SCORES)
    if name in _LOSSES or getattr(cls, "greater_is_better", True) is False:
        sign = -1
    else:
        sign = 1
    return _ClassScorer(name, _RegistryMetric(name, cls, options), sign, method, {})


class _ClassScorer(Scorer):
    """A scorer over a registry metric: passes the estimator's classes to the encoding."""

    def __call__(self, estimator: Any, X: Any, y_true: Any, sample_weight: Any = None
                 ) -> float:
        classes = getattr(estimator, "classes_", None)
        pos_label = None if classes is None else self._pos_label()
        y_out = response(estimator, X, self.response_method, pos_label)
        fn = self._score_func
        assert isinstance(fn, _RegistryMetric)
        known = None if isinstance(classes, list) else classes
        return self.sign * fn(y_true, y_out, sample_weight=sample_weight, classes=known)


def get_scorer(name: str, **options: Any) -> Scorer:
    """Return the scorer for a scoring name.

    Parameters
    ----------
    name : str
        A name from :func:`scorer_names`: scikit-learn's classification scorer names
        (``"f1_macro"``, ``"roc_auc_ovr"``, ``"neg_log_loss"``, ...) or a registered
        metric name (``"f1"``, ``"mcc"``, ``"specificity"``, a plugin's metric).
    **options
        Metric options (``average=``, ``beta=``, ``k=``, ``labels=``, ...); they
        override the name's defaults.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid names).
    """
    if not isinstance(name, str):
        raise TypeError(f"scoring name must be a str, got {type(name).__name__}")
    if name in _TABLE:
        import calipers.metrics as cm

        func_name, method, sign, fixed = _TABLE[name]
        if name == "fbeta" and "beta" not in options:
            raise ValueError("scoring 'fbeta' needs a beta option, e.g. "
                             "make_scorer('fbeta', beta=2)")
        func = getattr(cm, func_name)
        try:
            inspect.signature(func).bind(None, None, **{**fixed, **options})
        except TypeError as exc:
            raise TypeError(f"bad option for scoring {name!r}: {exc}") from None
        scorer = Scorer(name, func, sign, method, {**fixed, **options})
    elif name in _NOT_SCALAR:
        raise ValueError(f"metric {name!r} is not one number and cannot score; "
                         f"valid names: {', '.join(scorer_names())}")
    elif name in _registry_names():
        scorer = _registry_scorer(name, options)
    else:
        raise _unknown(name)
    scorer._options = dict(options)
    return scorer


def _passthrough(estimator: Any, X: Any, y: Any, sample_weight: Any = None) -> float:
    if sample_weight is not None:
        return float(estimator.score(X, y, sample_weight=sample_weight))
    return float(estimator.score(X, y))


def check_scoring(scoring: Any) -> Callable[..., float]:
    """Turn ``scoring`` into a scorer callable.

    ``None`` uses the estimator's own ``score`` method; a str is looked up with
    :func:`get_scorer`; a callable ``(estimator, X, y) -> float`` is used as is.
    """
    if scoring is None:
        return _passthrough
    if isinstance(scoring, str):
        return get_scorer(scoring)
    if callable(scoring):
        return scoring
    raise TypeError(
        "scoring must be a metric name, a callable scorer(estimator, X, y) or None, got "
        f"{type(scoring).__name__}"
    )
