"""Template of an exporter plugin: an Exporter of linear models to ``.npz`` and its tests."""

from __future__ import annotations

SUMMARY = (
    "an exporter that stores linear regressors (scikit-learn's, or any model with "
    "`coef_`, `intercept_` and `predict`) as plain numpy arrays, loadable without pickle"
)

#: Other names the tests import from the plugin's module.
HELPERS: tuple[str, ...] = ("LinearModel",)

USAGE = """\
import numpy as np
import calipers
from sklearn.linear_model import Ridge

X = np.random.default_rng(0).normal(size=(100, 3))
model = Ridge().fit(X, X @ [1.0, -2.0, 0.5])
path = calipers.export(model, "$name", "artifacts/ridge", sample=X[:16])
artifact = calipers.load(path)           # checks every file's sha256 first
artifact.predict(X[:5])                  # numpy only: no scikit-learn needed here
calipers.verify(path, model, X)          # parity with the original model"""

MODULE = '''\
"""$dist: a calipers plugin providing the exporter ``$name``.

The example exporter writes linear regressors (scikit-learn's ``LinearRegression``,
``Ridge``, ``Lasso``..., or :class:`LinearModel` below, or any object with ``coef_``,
``intercept_`` and ``predict``) as ``model.npz``: their coefficients as plain numpy
arrays. Loading it runs no pickle and needs only numpy. Replace :meth:`$cls.export`
and :meth:`$cls.load` for your own format.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import calipers
import numpy as np
from calipers.errors import ArtifactError
from calipers.export import Exporter

__all__ = ["$cls", "LinearModel", "$hook"]
__version__ = "0.1.0"

#: The model file inside an artifact.
FILE = "model.npz"


class LinearModel:
    """A numpy-only linear model ``X @ coef_.T + intercept_`` (for tests and examples).

    Parameters
    ----------
    coef : array-like of shape (n_features,) or (n_outputs, n_features)
    intercept : float or array-like of shape (n_outputs,)
    """

    def __init__(self, coef: Any, intercept: Any = 0.0) -> None:
        self.coef_ = np.asarray(coef, dtype=np.float64)
        self.intercept_ = np.asarray(intercept, dtype=np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """Return ``X @ coef_.T + intercept_``."""
        return _linear(np.asarray(X, dtype=np.float64), self.coef_, self.intercept_)


def _linear(X: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    return X @ coef.T + intercept


class _LinearRunner:
    """What :meth:`$cls.load` returns: runs the stored coefficients on named inputs."""

    def __init__(self, coef: np.ndarray, intercept: np.ndarray, input_name: str) -> None:
        self.coef, self.intercept, self.input_name = coef, intercept, input_name

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        X = np.asarray(inputs[self.input_name], dtype=np.float64)
        return {"prediction": _linear(X, self.coef, self.intercept)}


class $cls(Exporter):
    """Linear regressors as ``model.npz`` (``coef`` and ``intercept`` arrays).

    The artifact's input is ``X`` (2-D, float) and its output ``prediction``: the
    names calipers uses for scikit-learn-style regressors, so ``calipers.verify``
    compares it with ``model.predict`` directly.
    """

    name = "$name"
    #: Float64 arithmetic in a different order than the original model's.
    tolerance = {"rtol": 1e-9, "atol": 1e-9}

    def supports(self, model: Any) -> bool:
        """Linear models: ``coef_``, ``intercept_`` and ``predict``; no classifiers."""
        return (
            hasattr(model, "coef_")
            and hasattr(model, "intercept_")
            and callable(getattr(model, "predict", None))
            and not hasattr(model, "classes_")
        )

    def export(self, model: Any, path: str | Path, sample: Any, **options: Any) -> dict[str, Any]:
        """Write ``model``'s coefficients to ``path/model.npz``; return manifest fields."""
        if options:
            raise TypeError(f"the {self.name} exporter takes no options, got {sorted(options)}")
        if not self.supports(model):
            raise TypeError(
                f"the {self.name} exporter exports linear regressors (coef_, intercept_ and "
                f"predict, no classes_); {type(model).__module__}.{type(model).__qualname__} "
                "is not one"
            )
        coef = np.asarray(model.coef_, dtype=np.float64)
        intercept = np.asarray(model.intercept_, dtype=np.float64)
        if coef.ndim not in (1, 2):
            raise TypeError(f"coef_ must be 1-D or 2-D, got shape {coef.shape}")
        np.savez(Path(path) / FILE, coef=coef, intercept=intercept)
        return {
            "model_type": f"{type(model).__module__}.{type(model).__qualname__}",
            "task": "regressor",
            "libraries": {"numpy": np.__version__, "$dist": __version__},
            "options": {"file": FILE},
        }

    def load(self, path: Path, manifest: dict[str, Any], trusted: bool) -> _LinearRunner:
        """Read ``model.npz`` (arrays only: safe whatever ``trusted`` says)."""
        data = (Path(path) / FILE).read_bytes()
        # calipers.load checked the hashes; check again on the bytes actually loaded,
        # so the file cannot be swapped in between.
        if hashlib.sha256(data).hexdigest() != (manifest.get("files") or {}).get(FILE):
            raise ArtifactError(f"artifact {path}: {FILE} changed while it was being loaded")
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
                coef, intercept = arrays["coef"], arrays["intercept"]
        except (OSError, ValueError, KeyError) as exc:
            raise ArtifactError(f"artifact {path}: {FILE} is not a {self.name} model: "
                                f"{exc}") from None
        inputs = manifest.get("inputs") or [{"name": "X"}]
        return _LinearRunner(coef, intercept, inputs[0]["name"])


@calipers.hookimpl
def $hook() -> list[type]:
    """The exporters this plugin provides (calipers calls it once, when it loads plugins)."""
    return [$cls]
'''

TESTS = '''\
"""Tests of the ``$name`` exporter: calipers' conformance checks and direct use."""

from __future__ import annotations

import calipers
import numpy as np
import pytest
from calipers.testing import Case, check_exporter, parametrize_with_checks

from $module import $imports

X = np.random.default_rng(0).normal(size=(40, 3))
MODEL = LinearModel([1.5, -2.0, 0.25], 0.5)


# One test per conformance rule (export / load / verify parity, a complete manifest,
# tampering refused, no overwrite...), each named by its rule.
@parametrize_with_checks([Case("exporter", $cls, model=MODEL, sample=X)])
def test_conformance(obj, check):
    check()


def test_check_exporter_runs_every_rule():
    check_exporter($cls, MODEL, X)


def test_export_load_and_run_by_name(tmp_path):
    path = calipers.export(MODEL, "$name", tmp_path / "artifact", sample=X)
    assert sorted(p.name for p in path.iterdir()) == ["manifest.json", "model.npz"]
    with calipers.load(path) as artifact:
        assert artifact.manifest["exporter"] == "$name"
        np.testing.assert_allclose(artifact.predict(X), MODEL.predict(X), rtol=1e-12)
    assert calipers.verify(path, MODEL, X).ok


def test_a_scikit_learn_regressor(tmp_path):
    linear_model = pytest.importorskip("sklearn.linear_model")
    model = linear_model.Ridge(alpha=0.1).fit(X, X @ [1.0, 2.0, 3.0] + 0.1)
    path = calipers.export(model, "$name", tmp_path / "ridge", sample=X)
    with calipers.load(path) as artifact:
        np.testing.assert_allclose(artifact.predict(X), model.predict(X), rtol=1e-9)


def test_refuses_models_it_cannot_export(tmp_path):
    with pytest.raises(TypeError, match="does not support"):
        calipers.export(object(), "$name", tmp_path / "nope", sample=X)
    with pytest.raises(TypeError, match="linear regressors"):
        $cls().export(object(), tmp_path, X)
    assert not (tmp_path / "nope").exists()
'''
