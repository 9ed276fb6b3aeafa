"""TF Serving's JSON formats <-> numpy, and its error messages, without a server."""

from __future__ import annotations

import base64
import json
import re
import statistics
import time
import tracemalloc

import numpy as np
import pytest

from calipers.serve._errors import HTTP_STATUS, MAX_MESSAGE_CHARS, ServeError
from calipers.serve._tensors import (
    MAX_DEPTH,
    classify_results,
    decode_examples,
    decode_predict,
    dumps,
    encode_predict,
    parse_json,
    regress_results,
    to_array,
)

X_SPEC = [{"name": "X", "dtype": "float32", "shape": [None, 3]}]
TWO = [{"name": "a", "dtype": "float32", "shape": [None, 2]},
       {"name": "b", "dtype": "int64", "shape": [None]}]


def bad(fn, *args, match=None, code="INVALID_ARGUMENT", **kwargs):
    with pytest.raises(ServeError, match=match) as info:
        fn(*args, **kwargs)
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


# -- issue 13: hostile bodies -------------------------------------------------------------
def _nested(depth: int, leaf="1") -> str:
    return "[" * depth + leaf + "]" * depth


def test_nesting_is_bounded_before_parsing():
    # the body of the issue: accepted by json.loads, then RecursionError while quoted
    body = '{"signature_name": 1, "x": ' + "[" * 988 + "]" * 988 + "}"
    err = bad(parse_json, body.encode(), match=f"nested deeper than {MAX_DEPTH} levels")
    assert len(err.message) < 200
    # the root object counts as a level: MAX_DEPTH levels parse, one more does not
    assert parse_json(f'{{"x": {_nested(MAX_DEPTH - 1)}}}'.encode())["x"]
    bad(parse_json, f'{{"x": {_nested(MAX_DEPTH)}}}'.encode(), match="nested deeper")
    objects = '{"a": ' * MAX_DEPTH + "1" + "}" * MAX_DEPTH
    assert parse_json(objects.encode())["a"]
    bad(parse_json, ('{"a": ' + objects + "}").encode(), match="nested deeper")
    # brackets in strings (escaped quotes and backslashes included) are not nesting
    text = json.dumps({"s": "[" * 500 + '\\"[[' + "{" * 500, "t": ["\\", "[\\\\"]})
    assert parse_json(text.encode())["s"].startswith("[[[")
    # each error path that quotes the request, at the deepest accepted nesting
    deepest = json.loads(_nested(MAX_DEPTH - 2))
    for call, doc in [
        (decode_predict, {"instances": {"a": deepest}}),
        (decode_predict, {"instances": [], "inputs": deepest}),
        (decode_examples, {"x": deepest}),
    ]:
        err = bad(call, doc, X_SPEC)
        assert len(err.message) < 600
    err = bad(parse_json, json.dumps({"signature_name": 1, "x": deepest}).encode(),
              match="'signature_name' key must be a string")
    assert len(err.message) < 600


def test_show_is_bounded_and_iterative():
    from calipers.serve._tensors import _show

    deep = 1
    for _ in range(100_000):  # far deeper than any recursion limit
        deep = [deep]
    text = _show(deep)
    assert text.startswith("[[[") and text.endswith("...") and len(text) == 203
    huge = {"a": list(range(10**6)), "b": "x" * 10**6}
    tracemalloc.start()
    try:
        assert len(_show(huge)) == 203
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100_000  # it stops after 200 characters: never the whole text
    assert _show({"a": [1, None, True, "s", 1.5, float("nan"), {}]}) == \
        '{"a": [1, null, true, "s", 1.5, NaN, {}]}'
    assert _show("\ud800") == '"\\ud800"'  # escaped: safe to encode and log


def test_error_messages_are_bounded():
    err = bad(parse_json, json.dumps({"signature_name": "s" * 10**6}).encode(),
              match="Serving signature name: \"sss")
    assert len(err.message) < 300
    keys = {f"k{i}": 0 for i in range(100_000)}
    err = bad(decode_predict, {"inputs": {"X": [[1, 2, 3]], **keys}}, X_SPEC,
              match='Unknown named input.*"k0", .* and 99995 more')
    assert len(err.message) < 300
    # the last guard: any message is cut, and its lone surrogates escaped
    err = ServeError("INVALID_ARGUMENT", "x" * 10**6 + "\ud800")
    assert len(err.message) <= MAX_MESSAGE_CHARS + 40 and "more characters" in err.message
    assert ServeError("INVALID_ARGUMENT", 'name "\ud800"').message == 'name "\\ud800"'
    ServeError("INVALID_ARGUMENT", "\ud800" * 5).message.encode("utf-8")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32",
                                      "utf-32-le", "utf-32-be"])
def test_only_utf8_is_json(encoding):
    body = json.dumps({"inputs": [[True, 1.0, 2.0]]}).encode(encoding)
    bad(parse_json, body, match="send JSON encoded as UTF-8")


@pytest.mark.parametrize("body, fragment", [
    (b'{"inputs": "\xed\xa0\x80"}', "Invalid encoding in string. at offset: 12"),  # surrogate
    (b'{"inputs": "\xc3"}', "Invalid encoding"),
    (b'{"inputs": [1]}\xff', "Invalid encoding"),
    (b'{"inputs": "\\ud800"}', "lone surrogate"),
    (b'{"\\udc00": [1]}', "lone surrogate"),
    (b'{"inputs": [' + b"9" * 5000 + b"]}", "more than 4300 digits"),
])
def test_invalid_text_is_refused(body, fragment):
    bad(parse_json, body, match=re.escape(fragment))


def test_valid_unicode_and_a_utf8_bom_are_accepted():
    assert parse_json('{"s": "é😀", "t": "\\ud83d\\ude00"}'.encode())["t"] == "😀"
    assert parse_json(b'{"s": "\\\\ud800"}')["s"] == "\\ud800"  # an escaped backslash
    assert parse_json(b'\xef\xbb\xbf{"inputs": [1]}') == {"inputs": [1]}


def test_booleans_are_refused():
    # the old check looked for the UTF-8 bytes of true/false in the body: UTF-16 passed
    bad(to_array, [1.0, True], {"dtype": "float32"}, "'inputs'", match="Type: Boolean")
    bad(to_array, [True, 1], {"dtype": "bool"}, "'inputs'", match="1 Type: Number")
    bad(to_array, [1, 2.5], {"dtype": "int64"}, "'inputs'", match="Number \\(not an integer\\)")
    bad(to_array, [10**400], {"dtype": "float32"}, "'inputs'", match="out of range")
    bad(to_array, [10**400, -1], {"dtype": "int64"}, "'inputs'", match="out of range")
    assert to_array([[1, 2.5]], {"dtype": "float64"}, "x").tolist() == [[1.0, 2.5]]


def test_strings_among_numbers_take_no_memory():
    """numpy would make a fixed-width string array as wide as the longest string."""
    value = ["a" * 10_000] + ["b"] * 5_000  # numpy: 5001 x 40 kB = 200 MB
    tracemalloc.start()
    try:
        bad(to_array, value, {"dtype": "float32"}, "'inputs'", match='"a+.*Type: String')
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


def _median_seconds(fn, *args, rounds: int = 3) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        try:
            fn(*args)
        except ServeError:
            pass
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def test_error_paths_are_linear():
    """Bad values cost about what good ones of the same size do (was quadratic)."""
    n = 200_000
    spec = {"dtype": "float32"}
    good = _median_seconds(to_array, [1.0] * (n + 1), spec, "'inputs'")
    for hostile in ([1.0] * n + [None], [1.0] * n + ["a"], [[1.0]] * n + [[None]]):
        assert _median_seconds(to_array, hostile, spec, "'inputs'") < 50 * good
    # examples sharing a large context (was merged into each example)
    m = 5_000
    good_doc = {"examples": [{"X": [1, 2, 3]}] * (2 * m)}
    context = {"X": [1, 2, 3], **{f"k{i}": 0 for i in range(m)}}
    hostile_doc = {"context": context, "examples": [{}] * m + [1]}
    good = _median_seconds(decode_examples, good_doc, X_SPEC)
    assert _median_seconds(decode_examples, hostile_doc, X_SPEC) < 50 * good
