"""K-fold splitters with scikit-learn's folds, and the indexing helpers of cross-validation.

:class:`KFold` and :class:`StratifiedKFold` give exactly scikit-learn's
``KFold`` / ``StratifiedKFold`` splits (same sizes, same order, same shuffles for
the same ``random_state``). When scikit-learn is installed they delegate to it;
without it they run an own numpy implementation of the same algorithm (tests
check both against scikit-learn). Either way they follow scikit-learn's splitter
protocol (``split`` / ``get_n_splits``), so they can be passed as ``cv=`` to
scikit-learn too.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from calipers._extras import available
from calipers.metrics._arrays import is_sparse

__all__ = ["KFold", "StratifiedKFold", "check_cv", "num_samples", "take"]


def _sklearn_available() -> bool:
    return available("sklearn")


def num_samples(x: Any) -> int:
    """Number of samples (rows) of array-like ``x`` (numpy, pandas, sparse, list)."""
    shape = getattr(x, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    if hasattr(x, "__len__"):
        return len(x)
    raise TypeError(f"expected an array-like with a length, got {type(x).__name__}")


def take(x: Any, indices: np.ndarray) -> Any:
    """Rows ``indices`` of ``x``: ``iloc`` for pandas, fancy indexing for arrays and
    sparse matrices, a list for other sequences. ``None`` stays ``None``."""
    if x is None:
        return None
    if hasattr(x, "iloc"):
        return x.iloc[indices]
    if isinstance(x, np.ndarray) or is_sparse(x) or hasattr(x, "__array__"):
        if is_sparse(x) and hasattr(x, "tocsr") and x.format not in ("csr", "csc"):
            x = x.tocsr()
        return x[indices]
    return [x[int(i)] for i in indices]


class _BaseKFold:
    """Shared checks of the k-fold splitters (scikit-learn's messages)."""

    def __init__(self, n_splits: int = 5, *, shuffle: bool = False,
                 random_state: Any = None) -> None:
        if isinstance(n_splits, bool) or not isinstance(n_splits, numbers.Integral):
            raise ValueError(
                "The number of folds must be of Integral type. "
                f"{n_splits!r} of type {type(n_splits)} was passed."
            )
        n_splits = int(n_splits)
        if n_splits <= 1:
            raise ValueError(
                "k-fold cross-validation requires at least one train/test split by "
                f"setting n_splits=2 or more, got n_splits={n_splits}."
            )
        if not isinstance(shuffle, bool):
            raise TypeError(f"shuffle must be True or False; got {shuffle!r}")
        if not shuffle and random_state is not None:
            raise ValueError(
                "Setting a random_state has no effect since shuffle is False. You "
                "should leave random_state to its default (None), or set shuffle=True."
            )
        self.n_splits = n_splits
        self.shuffle = shuffle
        self.random_state = random_state

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments (scikit-learn's protocol, for ``clone`` / repr)."""
        return {"n_splits": self.n_splits, "shuffle": self.shuffle,
                "random_state": self.random_state}

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """Return ``n_splits`` (the arguments are ignored, as in scikit-learn)."""
        return self.n_splits

    def _rng(self) -> np.random.RandomState:
        # scikit-learn's check_random_state: the legacy generator, so that a seed
        # shuffles exactly as there.
        rs = self.random_state
        if rs is None or rs is np.random:
            return np.random.mtrand._rand
        if isinstance(rs, numbers.Integral):
            return np.random.RandomState(int(rs))
        if isinstance(rs, np.random.RandomState):
            return rs
        raise ValueError(f"{rs!r} cannot be used to seed a numpy.random.RandomState instance")

    def _sklearn_splitter(self) -> Any:
        import sklearn.model_selection as ms

        return getattr(ms, type(self).__name__)(self.n_splits, shuffle=self.shuffle,
                                                random_state=self.random_state)

    def split(self, X: Any, y: Any = None, groups: Any = None
              ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_indices, test_indices)`` for each fold.

        Raises
        ------
        ValueError
            If ``n_splits`` is greater than the number of samples.
        """
        if _sklearn_available():
            yield from self._sklearn_splitter().split(X, y, groups)
            return
        n = num_samples(X)
        if self.n_splits > n:
            raise ValueError(
                f"Cannot have number of splits n_splits={self.n_splits} greater than the "
                f"number of samples: n_samples={n}."
            )
        indices = np.arange(n)
        for test in self._test_indices(n, y):
            mask = np.zeros(n, dtype=bool)
            mask[test] = True
            yield indices[~mask], indices[mask]

    def _test_indices(self, n: int, y: Any) -> Iterator[np.ndarray]:
        raise NotImplementedError  # pragma: no cover - both subclasses override

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(n_splits={self.n_splits}, shuffle={self.shuffle}, "
                f"random_state={self.random_state!r})")


class KFold(_BaseKFold):
    """K-fold cross-validation: ``n_splits`` consecutive folds (shuffled first if asked).

    Parameters
    ----------
    n_splits : int
        Number of folds, at least 2. The first ``n_samples % n_splits`` folds get
        one sample more.
    shuffle : bool
        Shuffle the samples before splitting.
    random_state : int, numpy.random.RandomState or None
        Seed of the shuffle (only with ``shuffle=True``), as in scikit-learn.

    Examples
    --------
    >>> [test.tolist() for _, test in KFold(3).split(list(range(7)))]
    [[0, 1, 2], [3, 4], [5, 6]]
    """

    def _test_indices(self, n: int, y: Any) -> Iterator[np.ndarray]:
        indices = np.arange(n)
        if self.shuffle:
            self._rng().shuffle(indices)
        sizes = np.full(self.n_splits, n // self.n_splits, dtype=int)
        sizes[: n % self.n_splits] += 1
        start = 0
        for size in sizes:
            yield indices[start:start + size]
            start += size


class StratifiedKFold(_BaseKFold):
    """Stratified k-fold: each fold keeps the class proportions of ``y``.

    Same parameters as :class:`KFold`; ``split`` needs binary or multiclass ``y``.
    Classes are dealt to the folds round robin in order of first appearance, in
    blocks that keep the data order (shuffled per class with ``shuffle=True``),
    exactly as scikit-learn does.
    """

    def split(self, X: Any, y: Any, groups: Any = None
              ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_indices, test_indices)`` for each fold, stratified by ``y``."""
        return super().split(X, y, groups)

    def _test_indices(self, n: int, y: Any) -> Iterator[np.ndarray]:
        folds = self._test_folds(y, n)
        for i in range(self.n_splits):
            yield np.flatnonzero(folds == i)

    def _test_folds(self, y: Any, n: int) -> np.ndarray:
        if y is None:
            raise ValueError("StratifiedKFold needs y (the class labels) to split")
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        if y.ndim != 1 or len(y) != n:
            raise ValueError(
                "Supported target types are: ('binary', 'multiclass'). "
                f"Got y of shape {y.shape} for {n} samples instead."
            )
        if y.dtype.kind == "f" and not np.array_equal(y, np.round(y)):
            raise ValueError(
                "Supported target types are: ('binary', 'multiclass'). "
                "Got 'continuous' instead."
            )
        _, first, inverse = np.unique(y, return_index=True, return_inverse=True)
        # codes by order of first appearance, as scikit-learn encodes them
        _, perm = np.unique(first, return_inverse=True)
        codes = perm[inverse.ravel()]
        n_classes = len(first)
        counts = np.bincount(codes, minlength=n_classes)
        if np.all(self.n_splits > counts):
            raise ValueError(
                f"n_splits={self.n_splits} cannot be greater than the number of members "
                "in each class."
            )
        if self.n_splits > counts.min():
            warnings.warn(
                f"The least populated class in y has only {counts.min()} members, which "
                f"is less than n_splits={self.n_splits}.", UserWarning, stacklevel=3
            )
        ordered = np.sort(codes)
        allocation = np.asarray([np.bincount(ordered[i::self.n_splits], minlength=n_classes)
                                 for i in range(self.n_splits)])
        rng = self._rng()
        folds = np.empty(n, dtype=np.intp)
        for k in range(n_classes):
            fold_of = np.arange(self.n_splits).repeat(allocation[:, k])
            if self.shuffle:
                rng.shuffle(fold_of)
            folds[codes == k] = fold_of
        return folds


def _is_class_target(y: Any) -> bool:
    """Whether ``y`` is a binary / multiclass target (what stratification needs)."""
    if y is None:
        return False
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr.ravel()
    if arr.ndim != 1 or arr.size == 0:
        return False
    if arr.dtype.kind == "f":
        return bool(np.array_equal(arr, np.round(arr)))
    return arr.dtype.kind in "biuUSO"


def check_cv(cv: Any = 5, y: Any = None, *, classifier: bool = False) -> Any:
    """Turn ``cv`` into a splitter, as scikit-learn's ``check_cv`` does.

    Parameters
    ----------
    cv : int, splitter, iterable of (train, test) or None
        An int (``None`` means 5) gives :class:`StratifiedKFold` for a classifier
        with a binary / multiclass ``y``, else :class:`KFold`. An object with
        ``split`` is used as is; an iterable of index pairs is wrapped.
    y : array-like, optional
        The target (decides stratification for an int ``cv``).
    classifier : bool
        Whether the estimator is a classifier.
    """
    cv = 5 if cv is None else cv
    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        if classifier and _is_class_target(y):
            return StratifiedKFold(int(cv))
        return KFold(int(cv))
    if hasattr(cv, "split") and not isinstance(cv, str):
        return cv
    if isinstance(cv, Iterable) and not isinstance(cv, str):
        return _FixedSplits(cv)
    raise ValueError(
        "Expected cv as an integer, a cross-validation object (with split and "
        f"get_n_splits) or an iterable of (train, test) index pairs, got {cv!r}"
    )


class _FixedSplits:
    """A splitter replaying given (train, test) index pairs."""

    def __init__(self, splits: Iterable[Any]) -> None:
        self.splits = [(np.asarray(train), np.asarray(test)) for train, test in splits]

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return len(self.splits)

    def split(self, X: Any = None, y: Any = None, groups: Any = None
              ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        yield from self.splits
