"""calipers' first-party scikit-learn plugin: :class:`SearchCV` and :func:`make_scorer`.

``SearchCV`` is a scikit-learn meta-estimator that tunes an estimator with a
calipers study (any registered searcher: ``grid``, ``random``, ``bayes``,
``halving``), scoring each candidate by cross-validation with calipers metrics, and
refits the best one; ``make_scorer`` turns a calipers metric name into a
scikit-learn scorer::

    from calipers_sklearn import SearchCV, make_scorer
    search = SearchCV(LogisticRegression(), {"C": Float(1e-3, 1e3, log=True)},
                      searcher="bayes", n_trials=30, scoring="f1").fit(X, y)
    cross_val_score(clf, X, y, scoring=make_scorer("f1_macro"))

The entry point exists whether or not scikit-learn is installed, so this module
imports without it: ``__calipers_requires__`` lets the host see (with
``find_spec``, no import) that scikit-learn is missing and list the plugin as
unavailable with ``pip install 'calipers[sklearn]'``. The names above load
scikit-learn on first access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from calipers_sklearn._scorer import make_scorer
    from calipers_sklearn._search_cv import SearchCV

__all__ = ["SearchCV", "make_scorer"]

#: module -> calipers extra that installs it (read by the plugin host).
__calipers_requires__ = {"sklearn": "sklearn"}
#: what this plugin provides outside the registries (read by ``calipers plugins``).
__calipers_api__ = ("calipers_sklearn.SearchCV", "calipers_sklearn.make_scorer")

_LAZY = {"SearchCV": "calipers_sklearn._search_cv", "make_scorer": "calipers_sklearn._scorer"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'calipers_sklearn' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
