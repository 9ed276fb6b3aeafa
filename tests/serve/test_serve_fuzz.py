"""`calipers serve` against hostile request bodies (issue 13): a fuzzer kept as a test.

A server answers whoever reaches its port. Whatever the body (random bytes,
broken or deep JSON, other encodings, values of the wrong type anywhere in a
long array), the answer is a 4xx with a short ``{"error": ...}``, never a 5xx;
good requests keep working in between; and no body takes more than 50 times
as long as a good body of the same size (every path linear in the body).

The CI run generates a few hundred requests of each kind; the long run
(``pytest -m slow tests/serve/test_serve_fuzz.py``) generates thousands.
"""

from __future__ import annotations

import json
import statistics
import time

import numpy as np
import pytest
from _serve_client import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calipers.serve._errors import MAX_MESSAGE_CHARS
from calipers.serve._parse import MAX_DEPTH

PATHS = ["/v1/models/cancer:predict", "/v1/models/cancer:classify",
         "/v1/models/diabetes:predict", "/v1/models/diabetes:regress",
         "/v1/models/cancer/versions/1:predict"]
N_FEATURES = 30  # the cancer model's input width
MAX_RATIO = 50.0
TIMING_BODY_BYTES = 1_000_000

BUDGETS = [pytest.param(250, id="ci"),
           pytest.param(4000, marks=pytest.mark.slow, id="long")]


@pytest.fixture(scope="module")
def server(base):
    from calipers.serve import BackgroundServer

    with BackgroundServer(base, poll_interval=0, max_body_bytes=4 * TIMING_BODY_BYTES) as srv:
        yield srv


@pytest.fixture(scope="module")
def fuzz_client(server):
    c = Client(server.url)
    yield c
    c.close()


@pytest.fixture
def budget(request):
    """Examples per run; the long run only when ``-m slow`` selects it."""
    if request.node.get_closest_marker("slow") and "slow" not in (
            request.config.getoption("markexpr") or ""):
        pytest.skip("the long fuzzing run: select it with -m slow")
    return request.param


def check_answer(status: int, body: bytes, headers: dict[str, str]) -> dict:
    """A client's mistake is a short 4xx JSON error; never a 5xx."""
    assert status < 500, (status, body[:300])
    assert headers["content-type"] == "application/json"
    doc = json.loads(body)
    if status != 200:
        assert list(doc) == ["error"] and isinstance(doc["error"], str)
        assert len(doc["error"]) <= MAX_MESSAGE_CHARS + 40, len(doc["error"])
        assert status in (400, 404), (status, doc)
    return doc


def good_request_works(client: Client, cancer) -> None:
    _, X, _ = cancer
    status, body, _ = client.post("/v1/models/cancer:predict", {"instances": X[:3].tolist()})
    assert status == 200
    assert len(json.loads(body)["predictions"]) == 3


def fuzz(client: Client, cancer, strategy, budget: int, check) -> None:
    """Send ``budget`` generated requests; a good request every 25 and at the end."""
    sent = [0]

    @settings(max_examples=budget, deadline=None, database=None, derandomize=budget < 1000,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(request):
        path, body = request[:2]
        status, answer, headers = client.request(
            "POST", path, body, {"Content-Type": "application/json"})
        check(request, status, check_answer(status, answer, headers))
        sent[0] += 1
        if sent[0] % 25 == 0:
            good_request_works(client, cancer)

    run()
    good_request_works(client, cancer)


# -- strategies -----------------------------------------------------------------------
scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                      max_leaves=30)
nearly_numbers = st.floats(-1e6, 1e6, allow_nan=False) | st.integers(-1000, 1000)
rows = st.lists(st.lists(nearly_numbers | values, min_size=N_FEATURES - 1,
                         max_size=N_FEATURES + 1), min_size=1, max_size=3)
KEYS = ["instances", "inputs", "examples", "context", "signature_name", "X"]
documents = st.one_of(
    values,
    st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), values | rows, max_size=4),
    st.builds(lambda r: {"instances": r}, rows),
    st.builds(lambda r: {"inputs": {"X": r}}, rows),
    st.builds(lambda r: {"examples": [{"X": row} for row in r]}, rows),
    st.builds(lambda r, c: {"examples": [{} for _ in r], "context": {"X": r[0], **c}},
              rows, st.dictionaries(st.text(max_size=4), values, max_size=3)),
)
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32",
             "utf-32-le", "utf-32-be"]


@st.composite
def json_requests(draw):
    doc = draw(documents)
    encoding = draw(st.sampled_from(ENCODINGS))
    text = json.dumps(doc, ensure_ascii=draw(st.booleans()))
    return draw(st.sampled_from(PATHS)), text.encode(encoding), encoding


@st.composite
def byte_requests(draw):
    """Random bytes, or a good body cut, overwritten or spliced with random bytes."""
    good = json.dumps({"instances": [[0.5] * N_FEATURES] * 2}).encode()
    noise = draw(st.binary(max_size=64))
    at = draw(st.integers(0, len(good)))
    body = draw(st.sampled_from([
        noise, good[:at], good[:at] + noise + good[at:], good[:at] + noise + good[at + 1:],
        noise * 50,
    ]))
    return draw(st.sampled_from(PATHS)), body


DEEP_WRAPPERS = [  # the error paths that quote the request, and plain ones
    ("/v1/models/cancer:predict", '{{"signature_name": 1, "x": {}}}'),
    ("/v1/models/cancer:predict", '{{"instances": {{"a": {}}}}}'),
    ("/v1/models/cancer:predict", '{{"instances": [], "inputs": {}}}'),
    ("/v1/models/cancer:classify", '{{"x": {}}}'),
    ("/v1/models/cancer:predict", '{{"inputs": {}}}'),
    ("/v1/models/cancer:predict", '{{"instances": [{}]}}'),
    ("/v1/models/cancer:classify", '{{"examples": [{{"X": {}}}]}}'),
    ("/v1/models/cancer:predict", "{}"),
]


@st.composite
def deep_requests(draw):
    depth = draw(st.integers(1, 3000))
    opener = draw(st.sampled_from(["[", '{"a": ', "mixed"]))
    if opener == "mixed":
        opens = [draw(st.sampled_from(["[", '{"a": '])) for _ in range(min(depth, 50))]
        opens = (opens * (depth // len(opens) + 1))[:depth]
    else:
        opens = [opener] * depth
    closes = "".join("]" if o == "[" else "}" for o in reversed(opens))
    inner = draw(st.sampled_from(["", "1", "null", '"["']))
    nested = "".join(opens) + (inner or ("1" if opens[-1] != "[" else "")) + closes
    path, wrapper = draw(st.sampled_from(DEEP_WRAPPERS))
    return path, wrapper.format(nested).encode(), depth


BAD_LEAVES = [None, "a", True, False, {}, {"b64": "AA=="}, [], [1.0], "1", 10**30, 10**400,
              1.5, float("nan")]


@st.composite
def long_bad_requests(draw):
    """A long array of numbers with a bad value (at the end, the start, or anywhere)."""
    n = draw(st.integers(1, 20_000))
    bad = draw(st.sampled_from(BAD_LEAVES))
    where = draw(st.sampled_from(["end", "start", "anywhere"]))
    at = {"end": n, "start": 0}.get(where) or draw(st.integers(0, n))
    layout = draw(st.sampled_from(["flat", "rows", "examples", "named"]))
    if layout == "flat":
        items: list = [1] * n
        items.insert(at, bad)
        doc, path = {"inputs": items}, "/v1/models/cancer:predict"
    else:
        n_rows = max(1, n // N_FEATURES)
        table = [[0.25] * N_FEATURES for _ in range(n_rows)]
        row = table[min(at // N_FEATURES, n_rows - 1)]
        row[at % N_FEATURES] = bad
        if layout == "rows":
            doc, path = {"instances": table}, "/v1/models/cancer:predict"
        elif layout == "examples":
            doc, path = {"examples": [{"X": r} for r in table]}, "/v1/models/cancer:classify"
        else:
            doc, path = {"inputs": {"X": table}}, "/v1/models/cancer:predict"
    return path, json.dumps(doc).encode(), bad


# -- the fuzzing runs ---------------------------------------------------------------------
@pytest.mark.parametrize("budget", BUDGETS, indirect=True)
def test_fuzz_json_documents_in_any_encoding(fuzz_client, cancer, budget):
    def check(request, status, doc):
        _, body, encoding = request
        if encoding not in ("utf-8", "utf-8-sig"):  # JSON is UTF-8 (RFC 8259)
            assert status == 400 and "UTF-8" in doc["error"], (encoding, body[:80], doc)

    fuzz(fuzz_client, cancer, json_requests(), budget, check)


@pytest.mark.parametrize("budget", BUDGETS, indirect=True)
def test_fuzz_random_and_mangled_bytes(fuzz_client, cancer, budget):
    fuzz(fuzz_client, cancer, byte_requests(), budget, lambda request, status, doc: None)


@pytest.mark.parametrize("budget", BUDGETS, indirect=True)
def test_fuzz_deep_nesting(fuzz_client, cancer, budget):
    def check(request, status, doc):
        _, _, depth = request
        assert status == 400, doc
        if depth > MAX_DEPTH:
            assert f"nested deeper than {MAX_DEPTH}" in doc["error"], doc

    fuzz(fuzz_client, cancer, deep_requests(), budget, check)


@pytest.mark.parametrize("budget", BUDGETS, indirect=True)
def test_fuzz_long_arrays_with_a_bad_value(fuzz_client, cancer, budget):
    def check(request, status, doc):
        _, _, bad = request
        if bad == 1.5 or (isinstance(bad, float) and np.isnan(bad)) or bad == 10**30:
            return  # numbers for a float input: the model may take them (NaN: 400)
        assert status == 400, (bad, doc)

    fuzz(fuzz_client, cancer, long_bad_requests(), budget, check)


# -- the issue's reports, as requests ---------------------------------------------------
def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("path, body", [
    ("/v1/models/cancer:predict", f'{{"signature_name": 1, "x": {deep(988)}}}'),
    ("/v1/models/cancer:predict", f'{{"instances": {{"x": {deep(988)}}}}}'),
    ("/v1/models/cancer:predict", f'{{"instances": [], "inputs": {deep(988)}}}'),
    ("/v1/models/cancer:classify", f'{{"x": {deep(988)}}}'),
    ("/v1/models/cancer:predict", f'{{"signature_name": 1, "x": {deep(MAX_DEPTH - 1)}}}'),
], ids=["signature_name", "instances-not-a-list", "both-keys", "classify-no-examples",
        "deepest-accepted"])
def test_deep_nesting_on_the_quoting_error_paths_is_a_400(fuzz_client, cancer, path, body):
    status, answer, headers = fuzz_client.post(path, body.encode())
    message = check_answer(status, answer, headers)["error"]
    assert status == 400
    assert ("nested deeper than" in message) == (body.count("[") + 1 > MAX_DEPTH)
    good_request_works(fuzz_client, cancer)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32",
                                      "utf-32-le", "utf-32-be"])
def test_other_encodings_are_refused(fuzz_client, encoding):
    """A UTF-16/32 body was parsed, its ``true`` read as 1.0; now a 400 naming UTF-8."""
    doc = {"instances": [[True] + [1.0] * (N_FEATURES - 1)]}
    status, answer, headers = fuzz_client.post("/v1/models/cancer:predict",
                                               json.dumps(doc).encode(encoding))
    message = check_answer(status, answer, headers)["error"]
    assert status == 400 and "UTF-8" in message
    # the same document in UTF-8 is refused for its boolean, not for its encoding
    status, answer, headers = fuzz_client.post("/v1/models/cancer:predict", doc)
    message = check_answer(status, answer, headers)["error"]
    assert status == 400 and "Type: Boolean" in message


@pytest.mark.parametrize("body, fragment", [
    (b'{"instances": [[1.0]], "x": "\xed\xa0\x80"}', "Invalid encoding"),  # encoded surrogate
    (b'{"instances": [[1.0]], "x": "\xff"}', "Invalid encoding"),
    (b'{"instances": [[1.0]], "x": "\\ud800"}', "lone surrogate"),
    (b'{"signature_name": "\\udfff", "instances": [[1.0]]}', "lone surrogate"),
])
def test_invalid_unicode_is_refused(fuzz_client, cancer, body, fragment):
    status, answer, headers = fuzz_client.post("/v1/models/cancer:predict", body)
    assert status == 400 and fragment in check_answer(status, answer, headers)["error"]
    good_request_works(fuzz_client, cancer)


def test_a_utf8_byte_order_mark_is_ignored(fuzz_client, cancer):
    _, X, _ = cancer
    body = b"\xef\xbb\xbf" + json.dumps({"instances": X[:2].tolist()}).encode()
    status, answer, headers = fuzz_client.post("/v1/models/cancer:predict", body)
    assert status == 200 and len(check_answer(status, answer, headers)["predictions"]) == 2


# -- time: linear in the body, whatever the body ----------------------------------------------
def _fill(make, size: int = TIMING_BODY_BYTES) -> bytes:
    """``make(n)`` with n chosen for a body of about ``size`` bytes (bodies grow linearly in n)."""
    small, large = len(make(1000)), len(make(2000))
    n = 1000 + int((size - small) * 1000 / (large - small))
    return make(max(n, 1))


def _dumps(doc) -> bytes:
    return json.dumps(doc).encode()


def worst_bodies(X: np.ndarray) -> dict[str, tuple[str, bytes]]:
    """The slowest bodies of about 1 MB we found, by the path they take."""
    row = X[0].tolist()
    rows = X.tolist() * 100
    predict, classify = "/v1/models/cancer:predict", "/v1/models/cancer:classify"
    return {
        "null at the end (issue 13)": (predict, _fill(
            lambda n: _dumps({"inputs": [1] * n + [None]}))),
        "string at the end of rows": (predict, _fill(
            lambda n: _dumps({"instances": rows[:n] + [row[:-1] + ["a"]]}))),
        "boolean at the end of rows": (predict, _fill(
            lambda n: _dumps({"instances": rows[:n] + [row[:-1] + [True]]}))),
        "object at the end of rows": (predict, _fill(
            lambda n: _dumps({"instances": rows[:n] + [row[:-1] + [{"a": 1}]]}))),
        "ragged at the end": (predict, _fill(
            lambda n: _dumps({"instances": rows[:n] + [row[:-1]]}))),
        "flat list of the wrong shape": (predict, _fill(
            lambda n: _dumps({"inputs": [1] * n + [0.5], "signature_name": ""}))),
        "both keys, quoted": (predict, _fill(
            lambda n: _dumps({"inputs": [[1] * 30] * n, "instances": [1]}))),
        "signature_name not a string": (predict, _fill(
            lambda n: _dumps({"signature_name": 1, "instances": [[1] * 30] * n}))),
        "long signature_name": (predict, _fill(lambda n: _dumps({"signature_name": "a" * n}))),
        "unknown named inputs": (predict, _fill(
            lambda n: _dumps({"inputs": {"X": [row], **{f"k{i}": 0 for i in range(n)}}}))),
        "named rows, last one wrong": (predict, _fill(
            lambda n: _dumps({"instances": [{"X": row}] * n + [{"Y": row}]}))),
        "context shared by many examples": (classify, _fill(
            lambda n: _dumps({"context": {"X": row, **{f"k{i}": 0 for i in range(n)}},
                              "examples": [{}] * n + [1]}))),
        "examples, last one wrong": (classify, _fill(
            lambda n: _dumps({"examples": [{"X": row}] * n + [{"X": row[:-1] + [None]}]}))),
        "deep nesting": (predict, _fill(lambda n: ("[" * n + "]" * n).encode())),
        "deep nesting in a string": (predict, _fill(
            lambda n: _dumps({"instances": [["[" * n]]}))),
        "escaped quotes": (predict, _fill(lambda n: _dumps({"instances": ['"\\' * n]}))),
        "many-digit integers": (predict, _fill(
            lambda n: b'{"inputs": [' + b",".join([b"9" * 4000] * n) + b"]}")),
        "strings among numbers": (predict, _fill(
            lambda n: _dumps({"inputs": ["a" * 100] + [1] * n}))),
    }


def _seconds(client: Client, path: str, body: bytes) -> tuple[float, int]:
    start = time.perf_counter()
    status, answer, headers = client.post(path, body)
    elapsed = time.perf_counter() - start
    check_answer(status, answer, headers)
    return elapsed, status


def test_no_body_is_slower_than_50_good_ones_of_its_size(fuzz_client, cancer):
    """Each worst body's median time over the median of a good body of the same size.

    A ratio, not a time: the machine's load cancels out. Rounds interleave the
    bodies so that a burst of load falls on all of them alike.
    """
    _, X, _ = cancer
    good = _fill(lambda n: _dumps({"instances": (X.tolist() * 100)[:n]}))
    bodies = worst_bodies(X)
    assert all(0.9 * len(good) <= len(body) <= len(good) * 1.1 for _, body in bodies.values())
    status = fuzz_client.post("/v1/models/cancer:predict", good)[0]
    assert status == 200  # warm: the model loaded, the log open
    times: dict[str, list[float]] = {name: [] for name in ["good", *bodies]}
    for _ in range(3):
        elapsed, status = _seconds(fuzz_client, "/v1/models/cancer:predict", good)
        assert status == 200
        times["good"].append(elapsed)
        for name, (path, body) in bodies.items():
            elapsed, status = _seconds(fuzz_client, path, body)
            assert status == 400, name
            times[name].append(elapsed)
    base = statistics.median(times["good"])
    ratios = {name: statistics.median(t) / base for name, t in times.items()}
    slow = {name: round(r, 1) for name, r in ratios.items() if r > MAX_RATIO}
    assert not slow, f"slower than {MAX_RATIO}x a good body of {len(good)} bytes " \
                     f"({base * 1000:.0f} ms): {slow}"
