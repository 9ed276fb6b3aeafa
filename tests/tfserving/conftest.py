"""Fixtures of the tfserving plugin tests: small Keras models built here (no downloads).

The whole directory is skipped, with the reason, when TensorFlow is not installed
(``pip install 'calipers[tfserving]'``).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
pytest.importorskip(
    "tensorflow", reason="the tfserving plugin tests need TensorFlow: pip install "
    "'calipers[tfserving]' (tensorflow-cpu)")
keras = pytest.importorskip("keras", reason="the tfserving plugin tests need Keras")


@pytest.fixture(scope="session")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64)
    return X, y


@pytest.fixture(scope="session")
def softmax_model():
    keras.utils.set_random_seed(1)
    inp = keras.Input(shape=(4,), name="features")
    hidden = keras.layers.Dense(8, activation="tanh")(inp)
    out = keras.layers.Dense(3, activation="softmax")(hidden)
    return keras.Model(inp, out)


@pytest.fixture(scope="session")
def sigmoid_model(data):
    keras.utils.set_random_seed(2)
    X, y = data
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy")
    model.fit(X.astype(np.float32), y, epochs=20, verbose=0)
    return model


@pytest.fixture(scope="session")
def regressor_model():
    keras.utils.set_random_seed(3)
    return keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(5, activation="relu"),
                             keras.layers.Dense(1)])
