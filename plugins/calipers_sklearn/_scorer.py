"""``make_scorer``: calipers metrics as scikit-learn scorers."""

from __future__ import annotations

from typing import Any

from calipers.search._cv_scoring import Scorer, get_scorer, scorer_names

__all__ = ["get_scorer_names", "make_scorer"]


def make_scorer(name: str, **metric_options: Any) -> Scorer:
    """Return a scikit-learn scorer computing the calipers metric ``name``.

    The scorer is a callable ``scorer(estimator, X, y, sample_weight=None) -> float``
    with "greater is better" orientation (losses such as ``"log_loss"`` are
    negated), usable wherever scikit-learn takes ``scoring=``
    (``cross_val_score``, ``GridSearchCV``, ``SearchCV``). It calls ``predict``,
    ``predict_proba`` or ``decision_function`` as scikit-learn's scorer of the same
    name does and gives the same numbers as ``sklearn.metrics.get_scorer(name)``.

    Parameters
    ----------
    name : str
        A scikit-learn scorer name calipers computes (``"f1_macro"``,
        ``"roc_auc_ovr"``, ``"neg_log_loss"``, ...) or a registered calipers metric
        (``"f1"``, ``"mcc"``, ``"specificity"``, a plugin's metric);
        :func:`get_scorer_names` lists them.
    **metric_options
        Options of the metric, overriding the name's defaults (``average=``,
        ``beta=``, ``pos_label=``, ``zero_division=``, ``k=``, ...).

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.

    Examples
    --------
    >>> from calipers_sklearn import make_scorer
    >>> make_scorer("fbeta", beta=2)
    make_scorer('fbeta', average='binary', beta=2)
    """
    return get_scorer(name, **metric_options)


def get_scorer_names() -> list[str]:
    """The valid ``scoring`` names of :func:`make_scorer` and ``SearchCV``, sorted."""
    return scorer_names()
