"""Fuzz the public metric entry points: any dtype, shape or value gives a result or a
ValueError/TypeError, never a crash, a hang or another exception type."""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import calipers
from calipers import metrics as cm

DTYPES = st.sampled_from(["i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1", "f4", "f8",
                          ">i4", ">f8", "f2", "c8", "U3", "O", "M8[s]"])
FUNCTIONS = [cm.accuracy_score, cm.precision_score, cm.recall_score, cm.f1_score,
             cm.confusion_matrix, cm.multilabel_confusion_matrix, cm.balanced_accuracy_score,
             cm.matthews_corrcoef, cm.cohen_kappa_score, cm.jaccard_score, cm.hamming_loss]


def _array(data, dtype, shape):
    if dtype in ("U3", "M8[s]", "c8", "f2"):
        return np.zeros(shape, dtype=dtype)
    if dtype == "O":
        return np.array(data.draw(st.lists(st.one_of(st.none(), st.integers(-3, 3), st.text(
            max_size=2)), min_size=0, max_size=6)), dtype=object)
    elements = None
    if np.dtype(dtype).kind in "iu":
        elements = st.integers(-3, 3) if np.dtype(dtype).kind == "i" else st.integers(0, 5)
    return data.draw(hnp.arrays(np.dtype(dtype), shape, elements=elements))


SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), dt_true=DTYPES, dt_pred=DTYPES, shape=SHAPES, other_shape=SHAPES,
       same_shape=st.booleans(), func=st.sampled_from(FUNCTIONS),
       average=st.sampled_from([None, "binary", "micro", "macro", "weighted", "samples",
                                "bogus"]),
       weighted=st.booleans())
def test_functional_never_crashes(data, dt_true, dt_pred, shape, other_shape, same_shape, func,
                                  average, weighted):
    y_true = _array(data, dt_true, shape)
    y_pred = _array(data, dt_pred, shape if same_shape else other_shape)
    kwargs = {}
    if weighted:
        kwargs["sample_weight"] = data.draw(hnp.arrays(np.float64, y_true.shape[:1] or (1,)))
    if func in (cm.precision_score, cm.recall_score, cm.f1_score, cm.jaccard_score):
        kwargs["average"] = average
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            func(y_true, y_pred, **kwargs)
        except (ValueError, TypeError):
            pass


@settings(max_examples=200, deadline=None)
@given(data=st.data(), dt_true=DTYPES, dt_pred=DTYPES, shape=SHAPES, other=SHAPES,
       task=st.sampled_from(["binary", "multiclass", "multilabel"]),
       name=st.sampled_from(["f1", "accuracy", "mcc", "confusion_matrix", "specificity"]))
def test_streaming_never_crashes_and_keeps_state_on_error(data, dt_true, dt_pred, shape,
                                                           other, task, name):
    opts = {"num_classes": 3} if task == "multiclass" else {}
    if task == "multilabel":
        opts = {"num_labels": 3}
    m = calipers.metric(name, task=task, **opts)
    before = m.state_dict()["state"]["counts"].copy()
    y_true = _array(data, dt_true, shape)
    y_pred = _array(data, dt_pred, data.draw(st.sampled_from([shape, other])))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            m.update(y_true, y_pred)
        except (ValueError, TypeError):
            np.testing.assert_array_equal(m.state_dict()["state"]["counts"], before)
        m.compute()
