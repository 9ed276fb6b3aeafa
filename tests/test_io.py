"""Tests of calipers.io: streaming CSV / Parquet columns in batches."""

from __future__ import annotations

import gzip
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calipers import io as cio


def write_csv(path, header, rows, sep=","):
    text = sep.join(header) + "\n" + "".join(sep.join(map(str, r)) + "\n" for r in rows)
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def collect(batches):
    batches = list(batches)
    assert batches, "no batches"
    keys = batches[0].keys()
    return {k: np.concatenate([b[k] for b in batches]) for k in keys}, batches


# -- formats ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.csv", ("csv", None)),
        ("a.CSV", ("csv", None)),
        ("dir.v2/a.csv.gz", ("csv", "gzip")),
        ("a.tsv", ("tsv", None)),
        ("a.tsv.bz2", ("tsv", "bz2")),
        ("a.csv.zst", ("csv", "zstd")),
        ("a.parquet", ("parquet", None)),
        ("a.pq", ("parquet", None)),
    ],
)
def test_detect_format(name, expected):
    assert tuple(cio.detect_format(name)) == expected


@pytest.mark.parametrize("name", ["a.json", "a", "a.gz", "a.parquet.gz", "a.csv.txt"])
def test_detect_format_rejects_unknown_suffix(name):
    with pytest.raises(ValueError, match=r"cannot tell the format.*supported: \.csv"):
        cio.detect_format(name)


def test_unknown_suffix_error_from_iter_batches(tmp_path):
    path = tmp_path / "data.json"
    path.write_text("{}")
    with pytest.raises(ValueError, match="data.json"):
        next(cio.iter_batches(path, ["a"]))


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        next(cio.iter_batches(tmp_path / "nope.csv", ["a"]))


# -- reading ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["d.csv", "d.csv.gz", "d.tsv"])
def test_csv_reads_only_requested_columns_in_batches(tmp_path, name):
    n = 1000
    rows = [(i, i % 3, f"c{i % 4}", i / 7) for i in range(n)]
    sep = "\t" if ".tsv" in name else ","
    path = write_csv(tmp_path / name, ["idx", "label", "name", "score"], rows, sep=sep)
    data, batches = collect(cio.iter_batches(path, ["name", "label"], batch_size=128))
    assert all(set(b) == {"name", "label"} for b in batches)
    assert len(batches) == 8  # 7 full batches of 128 and one of 104
    assert all(len(b["label"]) <= 128 for b in batches)
    np.testing.assert_array_equal(data["label"], [r[1] for r in rows])
    assert data["label"].dtype.kind == "i"
    assert data["name"].dtype == object
    assert list(data["name"][:5]) == ["c0", "c1", "c2", "c3", "c0"]


def test_parquet_reads_only_requested_columns_in_batches(tmp_path):
    n = 1000
    table = pa.table(
        {
            "idx": np.arange(n),
            "label": pa.array([f"k{i % 3}" for i in range(n)]).dictionary_encode(),
            "flag": np.arange(n) % 2 == 0,
            "score": np.linspace(0, 1, n),
        }
    )
    path = tmp_path / "d.parquet"
    pq.write_table(table, path, row_group_size=300)
    data, batches = collect(cio.iter_batches(path, ["label", "flag", "score"], batch_size=128))
    assert all(len(b["label"]) <= 128 for b in batches)
    assert sum(len(b["label"]) for b in batches) == n
    # dictionary-encoded (categorical) columns come back as plain values
    assert data["label"].dtype == object
    assert list(data["label"][:4]) == ["k0", "k1", "k2", "k0"]
    assert data["flag"].dtype == bool
    np.testing.assert_array_equal(data["score"], np.linspace(0, 1, n))


def test_duplicate_columns_read_once(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["a", "b"], [(1, 2), (3, 4)])
    (batch,) = cio.iter_batches(path, ["a", "a", "b"])
    assert list(batch) == ["a", "b"]


def test_header_only_csv_yields_nothing(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["a", "b"], [])
    assert list(cio.iter_batches(path, ["a"])) == []


def test_empty_csv_is_a_clear_error(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("")
    with pytest.raises(ValueError, match=r"cannot parse .*d\.csv: Empty CSV file"):
        next(cio.iter_batches(path, ["a"]))


def test_batch_size_must_be_positive(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["a"], [(1,)])
    with pytest.raises(ValueError, match="batch_size"):
        next(cio.iter_batches(path, ["a"], batch_size=0))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    values=st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=300),
    batch_size=st.integers(1, 64),
    kind=st.sampled_from(["csv", "parquet"]),
)
def test_batches_concatenate_to_the_column(tmp_path, values, batch_size, kind):
    path = tmp_path / f"h.{kind}"
    if kind == "csv":
        write_csv(path, ["v", "w"], [(v, 0) for v in values])
    else:
        pq.write_table(pa.table({"w": [0] * len(values), "v": values}), path)
    batches = list(cio.iter_batches(path, ["v"], batch_size=batch_size))
    assert all(1 <= len(b["v"]) <= batch_size for b in batches)
    np.testing.assert_array_equal(np.concatenate([b["v"] for b in batches]), values)


# -- float columns and type changes ------------------------------------------------------


def test_float_columns_survive_integer_looking_first_block(tmp_path):
    # 300k rows of "0"/"1" fill the first CSV block; a fractional score comes after.
    n = 300_000
    rows = [(i % 2, i % 2) for i in range(n)] + [(1, 0.25)]
    path = write_csv(tmp_path / "d.csv", ["y", "s"], rows)
    data, _ = collect(cio.iter_batches(path, ["y", "s"], batch_size=50_000, float_columns=["s"]))
    assert data["s"].dtype == np.float64
    assert data["s"][-1] == 0.25
    assert data["y"].dtype.kind == "i"


def test_type_change_after_first_block_names_the_column(tmp_path):
    n = 300_000
    rows = [(i, i % 2) for i in range(n)] + [(n, "cat")]
    path = write_csv(tmp_path / "d.csv", ["idx", "y"], rows)
    with pytest.raises(ValueError, match=r"in column 'y': CSV conversion error.*'cat'"):
        for _ in cio.iter_batches(path, ["y"], batch_size=50_000):
            pass


def test_parquet_float_columns_are_cast(tmp_path):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"s": pa.array([0, 1, 1], pa.int8())}), path)
    (batch,) = cio.iter_batches(path, ["s"], float_columns=["s"])
    assert batch["s"].dtype == np.float64


def test_parquet_float_column_of_text_is_a_clear_error(tmp_path):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"s": ["a", "b"]}), path)
    with pytest.raises(ValueError, match="column 's' .* must hold numbers"):
        next(cio.iter_batches(path, ["s"], float_columns=["s"]))


# -- missing columns / values -----------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_missing_column_names_it_and_the_columns_that_exist(tmp_path, kind):
    path = tmp_path / f"d.{kind}"
    if kind == "csv":
        write_csv(path, ["y_true", "y_pred"], [(0, 1)])
    else:
        pq.write_table(pa.table({"y_true": [0], "y_pred": [1]}), path)
    with pytest.raises(ValueError, match=r"column 'y_prob' not found .*'y_true', 'y_pred'"):
        next(cio.iter_batches(path, ["y_true", "y_prob"]))
    with pytest.raises(ValueError, match=r"columns 'a', 'b' not found"):
        cio.column_dtypes(path, ["a", "y_true", "b"])


@pytest.mark.parametrize(
    ("cell", "column"),
    [("", "y"), ("NaN", "s"), ("", "name"), ("null", "s")],
)
def test_missing_value_in_csv_gives_the_row(tmp_path, cell, column):
    rows = [[i % 2, 0.5, "a"] for i in range(2000)]
    rows[1234][["y", "s", "name"].index(column)] = cell
    path = write_csv(tmp_path / "d.csv", ["y", "s", "name"], rows)
    with pytest.raises(ValueError, match=rf"column '{column}' has a missing value .* row 1235 "):
        for _ in cio.iter_batches(path, ["y", "s", "name"], batch_size=100):
            pass


@pytest.mark.parametrize("value", [None, float("nan")])
def test_missing_value_in_parquet_gives_the_row(tmp_path, value):
    scores = [0.5] * 500
    scores[321] = value
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"s": pa.array(scores, pa.float64())}), path)
    with pytest.raises(ValueError, match=r"column 's' has a missing value .* row 322 "):
        for _ in cio.iter_batches(path, ["s"], batch_size=50):
            pass


# -- dtypes ----------------------------------------------------------------------------


def test_column_dtypes(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["a", "b", "c", "d"], [(1, 0.5, "x", "true")])
    assert cio.column_dtypes(path) == {
        "a": np.dtype("int64"),
        "b": np.dtype("float64"),
        "c": np.dtype(object),
        "d": np.dtype(bool),
    }
    assert list(cio.column_dtypes(path, ["c", "a"])) == ["c", "a"]
    ppath = tmp_path / "d.parquet"
    pq.write_table(pa.table({"k": pa.array(["u"]).dictionary_encode(), "i": [1]}), ppath)
    assert cio.column_dtypes(ppath) == {"k": np.dtype(object), "i": np.dtype("int64")}


# -- progress --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_progress_bar_on_stderr_only_when_asked(tmp_path, capsys, kind):
    path = tmp_path / f"d.{kind}"
    if kind == "csv":
        write_csv(path, ["a"], [(i,) for i in range(100)])
    else:
        pq.write_table(pa.table({"a": list(range(100))}), path)
    list(cio.iter_batches(path, ["a"], progress=True, desc="reading"))
    out, err = capsys.readouterr()
    assert out == ""
    assert "reading" in err and "100%" in err
    unit = "B" if kind == "csv" else "rows"
    assert unit in err
    list(cio.iter_batches(path, ["a"], progress=False))
    assert capsys.readouterr() == ("", "")
    # automatic: stderr is not a terminal under pytest's capture
    list(cio.iter_batches(path, ["a"], progress=None))
    assert capsys.readouterr() == ("", "")


def test_import_is_light():
    code = (
        "import sys, calipers, calipers.io, calipers.data; "
        "print(sorted(m for m in ('pyarrow', 'tqdm', 'sklearn', 'torch') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_default_predictions_path():
    from calipers.data import default_predictions_path

    path = default_predictions_path()
    assert path.is_file()
    header = path.read_text().splitlines()[0].split(",")
    assert header[:3] == ["y_true", "y_pred", "y_score"]
