"""TF Serving's JSON formats <-> numpy, and its error messages, without a server."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from calipers.serve._errors import HTTP_STATUS, ServeError
from calipers.serve._tensors import (
    classify_results,
    decode_examples,
    decode_predict,
    dumps,
    encode_predict,
    parse_json,
    regress_results,
)

X_SPEC = [{"name": "X", "dtype": "float32", "shape": [None, 3]}]
TWO = [{"name": "a", "dtype": "float32", "shape": [None, 2]},
       {"name": "b", "dtype": "int64", "shape": [None]}]


def bad(fn, *args, match=None, code="INVALID_ARGUMENT"):
    with pytest.raises(ServeError, match=match) as info:
        fn(*args)
    assert info.value.code == code
    return info.value


def test_http_mapping_is_tf_servings():
    assert HTTP_STATUS["INVALID_ARGUMENT"] == 400
    assert HTTP_STATUS["NOT_FOUND"] == 404
    assert HTTP_STATUS["RESOURCE_EXHAUSTED"] == 429
    assert HTTP_STATUS["INTERNAL"] == 500
    assert HTTP_STATUS["UNAVAILABLE"] == 503
    assert HTTP_STATUS["FAILED_PRECONDITION"] == 400
    with pytest.raises(ValueError, match="unknown status code"):
        ServeError("NOPE", "x")


def test_parse_json_errors():
    bad(parse_json, b"", match="JSON Parse error: The document is empty")
    err = bad(parse_json, b'{"instances": [1,', match="JSON Parse error: .* at offset: ")
    assert err.http_status == 400
    bad(parse_json, b"[1, 2]", match="Is not object")
    bad(parse_json, b"\xff\xfe", match="JSON Parse error")
    bad(parse_json, b'{"signature_name": 3, "instances": [1]}',
        match="'signature_name' key must be a string value")
    bad(parse_json, b'{"signature_name": "other", "instances": [1]}',
        match='Serving signature name: "other" not found in signature def')
    assert parse_json(b'{"signature_name": "serving_default", "inputs": [NaN]}')["inputs"][0] != 0
    deep = b"[" * 100_000 + b"]" * 100_000
    bad(parse_json, b'{"instances": ' + deep + b"}", match="JSON Parse error")


def test_row_and_columnar_single_input():
    rows = [[1, 2, 3], [4.5, 5, 6]]
    arrays, fmt = decode_predict({"instances": rows}, X_SPEC)
    assert fmt == "row"
    np.testing.assert_array_equal(arrays["X"], np.array(rows, dtype=np.float32))
    assert arrays["X"].dtype == np.float32
    arrays, fmt = decode_predict({"inputs": rows}, X_SPEC)
    assert fmt == "columnar"
    np.testing.assert_array_equal(arrays["X"], np.array(rows, dtype=np.float32))
    arrays, _ = decode_predict({"inputs": {"X": rows}}, X_SPEC)
    assert arrays["X"].shape == (2, 3)


def test_row_and_columnar_named_inputs():
    arrays, fmt = decode_predict(
        {"instances": [{"a": [1, 2], "b": 3}, {"a": [3, 4], "b": 5}]}, TWO)
    assert fmt == "row"
    np.testing.assert_array_equal(arrays["a"], [[1, 2], [3, 4]])
    np.testing.assert_array_equal(arrays["b"], [3, 5])
    assert arrays["b"].dtype == np.int64
    arrays, fmt = decode_predict({"inputs": {"a": [[1, 2]], "b": [7]}}, TWO)
    assert fmt == "columnar" and arrays["b"].tolist() == [7]
    bad(decode_predict, {"instances": [[1, 2]]}, TWO,
        match="instances is a plain value/list, but expecting an object")
    bad(decode_predict, {"inputs": [[1, 2]]}, TWO, match="inputs is a plain value/list")
    bad(decode_predict, {"instances": [{"a": [1, 2]}]}, TWO, match="keys must be equal to: a,b")
    bad(decode_predict, {"instances": [{"a": [1, 2], "b": 1}, [1, 2]]}, TWO,
        match="Expecting object but got list at item 1")
    bad(decode_predict, {"inputs": {"a": [[1, 2]]}}, TWO,
        match="Missing named input: b in 'inputs' object.")
    bad(decode_predict, {"inputs": {"a": [[1, 2]], "b": [1], "c": [1]}}, TWO,
        match="Unknown named input")
    bad(decode_predict, {"inputs": {"a": [[1, 2], [3, 4]], "b": [1]}}, TWO,
        match="different batch sizes")


def test_request_shape_errors():
    bad(decode_predict, {"instances": [[1, 2, 3]], "inputs": [[1, 2, 3]]}, X_SPEC,
        match="expecting only one of 'inputs' or 'instances'")
    bad(decode_predict, {"foo": 1}, X_SPEC, match="Missing 'inputs' or 'instances' key")
    bad(decode_predict, {"instances": []}, X_SPEC, match="No values in 'instances' array")
    bad(decode_predict, {"instances": {"X": 1}}, X_SPEC, match="to be an list/array")
    bad(decode_predict, {"instances": [[1, 2, 3], [1, 2]]}, X_SPEC, match="different lengths")
    bad(decode_predict, {"instances": [[1, 2]]}, X_SPEC,
        match=r"expected shape \[-1, 3\], got \[1, 2\]")
    bad(decode_predict, {"instances": [1, 2, 3]}, X_SPEC, match="expected shape")
    bad(decode_predict, {"instances": [[[1, 2, 3]]]}, X_SPEC, match="expected shape")
    bad(decode_predict, {"instances": [[1, 2, 3], {"X": 1}]}, X_SPEC,
        match="Expecting value/list but got object at item 1")
    bad(decode_predict, {"instances": [[1, 2, 3]]}, [], match="Failed to get input map")


@pytest.mark.parametrize("value, kind", [
    ("a", "String"), (True, "Boolean"), (None, "Null"), ({"x": 1}, "Object"),
])
def test_wrong_json_types_for_numbers(value, kind):
    err = bad(decode_predict, {"instances": [[1, 2, value]]}, X_SPEC,
              match="is not of expected type: float32")
    assert kind in err.message or "numpy kind" in err.message


def test_integer_inputs_refuse_fractions_and_overflow():
    spec = [{"name": "i", "dtype": "int32", "shape": [None]}]
    assert decode_predict({"inputs": [1, 2]}, spec)[0]["i"].dtype == np.int32
    bad(decode_predict, {"inputs": [1.5, 2]}, spec, match="not of expected type: int32")
    bad(decode_predict, {"inputs": [2**40]}, spec, match="out of range for int32")
    spec = [{"name": "b", "dtype": "bool", "shape": [None]}]
    assert decode_predict({"inputs": [True, False]}, spec)[0]["b"].tolist() == [True, False]
    bad(decode_predict, {"inputs": [1, 0]}, spec, match="not of expected type: bool")


def test_b64_strings_in_and_out():
    spec = [{"name": "text", "dtype": "object", "shape": [None]}]
    raw = b"\x00\xffbinary"
    arrays, _ = decode_predict(
        {"instances": [{"b64": base64.b64encode(raw).decode()}, "plain"]}, spec)
    assert arrays["text"].tolist() == [raw, "plain"]
    bad(decode_predict, {"instances": [{"b64": "!!notbase64"}]}, spec,
        match="Unable to base64 decode")
    bad(decode_predict, {"instances": [3]}, spec, match="not of expected type: string")
    out = encode_predict({"image_bytes": np.array([raw, b"x"], dtype=object)}, "row")
    assert out == {"predictions": [{"b64": base64.b64encode(raw).decode()},
                                   {"b64": base64.b64encode(b"x").decode()}]}


def test_encode_row_and_columnar():
    label = np.array([0, 1], dtype=np.int64)
    proba = np.array([[0.25, 0.75], [0.5, 0.5]], dtype=np.float32)
    assert encode_predict({"label": label}, "row") == {"predictions": [0, 1]}
    assert encode_predict({"label": label}, "columnar") == {"outputs": [0, 1]}
    rows = encode_predict({"label": label, "probabilities": proba}, "row")
    assert rows == {"predictions": [{"label": 0, "probabilities": [0.25, 0.75]},
                                    {"label": 1, "probabilities": [0.5, 0.5]}]}
    cols = encode_predict({"label": label, "probabilities": proba}, "columnar")
    assert cols == {"outputs": {"label": [0, 1], "probabilities": [[0.25, 0.75], [0.5, 0.5]]}}
    bad(encode_predict, {"a": label, "b": np.zeros(3)}, "row",
        match="has inconsistent batch size: 3 expecting: 2")
    bad(encode_predict, {"a": np.float32(1.0)}, "row", match="has no shape information")
    bad(encode_predict, {}, "row", match="empty tensor map")
    # float32 values survive the trip exactly; NaN/Infinity as TF Serving writes them
    values = np.array([0.1, 1e-30, 3.4e38, np.nan, -np.inf], dtype=np.float32)
    text = dumps(encode_predict({"v": values}, "row"))
    assert b"NaN" in text and b"-Infinity" in text
    back = np.asarray(json.loads(text)["predictions"], dtype=np.float32)
    np.testing.assert_array_equal(back, values)


def test_examples_for_classify_and_regress():
    doc = {"examples": [{"X": [1, 2, 3]}, {"X": [4, 5, 6]}]}
    arrays = decode_examples(doc, X_SPEC)
    np.testing.assert_array_equal(arrays["X"], [[1, 2, 3], [4, 5, 6]])
    named = {"context": {"c": 3}, "examples": [{"a": 1, "b": [2]}, {"a": 4, "b": 5, "c": 6}]}
    arrays = decode_examples(named, X_SPEC, ["a", "b", "c"])
    np.testing.assert_array_equal(arrays["X"], [[1, 2, 3], [4, 5, 6]])
    bad(decode_examples, {"examples": [{"a": 1}]}, X_SPEC, ["a", "b", "c"],
        match="missing feature")
    bad(decode_examples, {"examples": [{"a": [1, 2], "b": 1, "c": 1}]}, X_SPEC,
        ["a", "b", "c"], match="must hold one value")
    bad(decode_examples, {"instances": []}, X_SPEC, match="key 'examples' is expected")
    bad(decode_examples, {"examples": {}}, X_SPEC, match="to be an list/array")
    bad(decode_examples, {"examples": []}, X_SPEC, match="is an empty array")
    bad(decode_examples, {"examples": [1]}, X_SPEC, match="Example must be JSON object")
    bad(decode_examples, {"examples": [{"Y": 1}]}, X_SPEC, match="missing feature 'X'")
    bad(decode_examples, {"examples": [{"X": [1, 2]}]}, X_SPEC, match="expected shape")


def test_classify_and_regress_results():
    proba = np.array([[0.2, 0.8], [0.9, 0.1]], dtype=np.float32)
    out = classify_results({"label": np.array([1, 0]), "probabilities": proba}, ["neg", "pos"])
    assert out["results"][0] == [["neg", pytest.approx(0.2)], ["pos", pytest.approx(0.8)]]
    assert [r[1][0] for r in out["results"]] == ["pos", "pos"]
    assert classify_results({"probabilities": proba}, None)["results"][1][0][0] == "0"
    bad(classify_results, {"label": np.array([1])}, [0, 1], code="FAILED_PRECONDITION",
        match="'probabilities' output")
    bad(classify_results, {"probabilities": proba}, [0, 1, 2], code="INTERNAL")
    assert regress_results({"prediction": np.array([1.5, 2.0])}) == {"results": [1.5, 2.0]}
    assert regress_results({"y": np.array([[1.5], [2.0]])}) == {"results": [1.5, 2.0]}
    bad(regress_results, {"y": np.zeros((2, 3))}, code="FAILED_PRECONDITION")
