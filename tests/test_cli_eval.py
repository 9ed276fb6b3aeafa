"""Tests of ``calipers eval``: arguments, label handling, streaming, output; parity with sklearn."""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calipers.cli import eval as cli_eval

sk = pytest.importorskip("sklearn.metrics")


# -- helpers ---------------------------------------------------------------------------


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="calipers")
    cli_eval.add_parser(parser.add_subparsers())
    return parser


def run_eval(capsys, *argv):
    """Run ``calipers eval ARGV``; return (exit code, stdout, stderr)."""
    args = make_parser().parse_args(["eval", *map(str, argv)])
    rc = cli_eval.run(args)
    out, err = capsys.readouterr()
    return rc, out, err


def eval_json(capsys, *argv):
    rc, out, err = run_eval(capsys, *argv, "--format", "json")
    assert rc == 0, err
    return json.loads(out)


def write_table(path, columns):
    table = pa.table(columns)
    if path.suffix == ".parquet":
        pq.write_table(table, path, row_group_size=50_000)
    else:
        pacsv.write_csv(table, path)
    return path


def shipped():
    from calipers.data import default_predictions_path

    with open(default_predictions_path(), newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([r[k] for r in rows]) for k in rows[0]}


def expect_error(capsys, *argv, match):
    rc, out, err = run_eval(capsys, *argv)
    assert rc == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("calipers eval: error: ")
    assert "Traceback" not in err
    import re

    assert re.search(match, lines[0]), lines[0]
    return lines[0]


# -- the argument parser ------------------------------------------------------------------


def test_parser_defaults_and_lists():
    args = make_parser().parse_args(
        ["eval", "f.csv", "--y-true", "t", "--y-score", "a", "b", "--metrics", "f1, mcc"]
    )
    assert args.file == "f.csv"
    assert args.y_true == ["t"]
    assert args.y_score == ["a", "b"]
    assert args.y_pred is None
    assert args.metrics == ["f1", "mcc"]
    assert (args.format, args.batch_size, args.threshold, args.progress) == (
        "table",
        65_536,
        0.5,
        None,
    )
    assert make_parser().parse_args(["eval", "--no-progress"]).progress is False
    assert make_parser().parse_args(["eval", "--progress"]).progress is True


@pytest.mark.parametrize(
    "argv",
    [
        ["--y-pred", "a", "--y-score", "b"],
        ["--batch-size", "0"],
        ["--num-classes", "x"],
        ["--metrics", "f1,,mcc"],
        ["--task", "regression"],
        ["--progress", "--no-progress"],
    ],
)
def test_parser_rejects(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        make_parser().parse_args(["eval", *argv])
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


def test_registered_in_the_main_command(capsys):
    from calipers.cli.main import main

    assert main(["eval", "--help"]) == 0
    assert "--y-score" in capsys.readouterr().out


# -- the shipped default file --------------------------------------------------------------


def test_no_file_evaluates_the_shipped_predictions(capsys):
    data = shipped()
    t, p = data["y_true"].astype(int), data["y_pred"].astype(int)
    rc, out, err = run_eval(capsys)
    assert rc == 0, err
    header = out.splitlines()[0]
    assert "breast_cancer_predictions.csv" in header
    assert f"rows: {len(t)}" in header and "task: binary" in header
    got = eval_json(capsys)
    assert got["task"] == "binary" and got["n_samples"] == len(t) == 171
    assert got["classes"] == [0, 1] and got["positive_label"] == 1
    m = got["metrics"]
    assert m["accuracy"] == pytest.approx(sk.accuracy_score(t, p), rel=1e-12)
    assert m["precision"] == pytest.approx(sk.precision_score(t, p), rel=1e-12)
    assert m["recall"] == pytest.approx(sk.recall_score(t, p), rel=1e-12)
    assert m["f1"] == pytest.approx(sk.f1_score(t, p), rel=1e-12)
    assert m["mcc"] == pytest.approx(sk.matthews_corrcoef(t, p), rel=1e-12)
    assert m["cohen_kappa"] == pytest.approx(sk.cohen_kappa_score(t, p), rel=1e-12)
    assert m["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(t, p), rel=1e-12)
    assert m["jaccard"] == pytest.approx(sk.jaccard_score(t, p), rel=1e-12)
    assert m["specificity"] == pytest.approx(sk.recall_score(t, p, pos_label=0), rel=1e-12)
    # the table shows the same numbers, 6 decimals
    for name, value in m.items():
        assert f"{value:.6f}" in out, name


def test_shipped_scores_and_class_names(capsys):
    data = shipped()
    t = data["y_true"].astype(int)
    s = data["y_score"].astype(float)
    got = eval_json(capsys, "--y-score", "y_score", "--threshold", "0.3")
    assert got["threshold"] == 0.3
    p = (s >= 0.3).astype(int)
    assert got["metrics"]["f1"] == pytest.approx(sk.f1_score(t, p), rel=1e-12)
    # string labels; malignant as the positive class
    got = eval_json(
        capsys, "--y-true", "true_class", "--y-pred", "pred_class", "--pos-label", "malignant"
    )
    assert got["classes"] == ["benign", "malignant"] and got["positive_label"] == "malignant"
    tn, pn = data["true_class"], data["pred_class"]
    assert got["metrics"]["recall"] == pytest.approx(
        sk.recall_score(tn, pn, pos_label="malignant"), rel=1e-12
    )


def test_shipped_data_matches_its_script(tmp_path):
    pytest.importorskip("sklearn")
    from pathlib import Path

    from calipers.data import default_predictions_path

    script = Path(__file__).resolve().parents[1] / "scripts" / "make_default_data.py"
    out = tmp_path / "p.csv"
    subprocess.run([sys.executable, str(script), "--out", str(out)], check=True)
    made = list(csv.DictReader(open(out)))
    ours = list(csv.DictReader(open(default_predictions_path())))
    assert [r["y_true"] for r in made] == [r["y_true"] for r in ours]
    assert [r["y_pred"] for r in made] == [r["y_pred"] for r in ours]
    np.testing.assert_allclose(
        [float(r["y_score"]) for r in made], [float(r["y_score"]) for r in ours], atol=1e-6
    )


# -- larger than one batch: parity with sklearn on the whole data --------------------------


@pytest.fixture(scope="module")
def big():
    rng = np.random.default_rng(20240601)
    n = 200_000
    t = rng.integers(0, 2, n)
    score = np.clip(0.35 * t + rng.random(n) * 0.65, 0, 1)
    cls = np.array(["cat", "dog", "emu"])
    ti = rng.integers(0, 3, n)
    pi = np.where(rng.random(n) < 0.7, ti, rng.integers(0, 3, n))
    w = rng.random(n) * 2
    return {
        "y": t,
        "score": score,
        "pred": (score >= 0.5).astype(np.int64),
        "animal": cls[ti],
        "guess": cls[pi],
        "w": w,
    }


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".csv.gz"])
def test_multi_batch_binary_scores_equal_sklearn(tmp_path, capsys, big, suffix):
    path = tmp_path / f"big{suffix}"
    if suffix == ".csv.gz":
        tmp = write_table(tmp_path / "big.csv", big)
        import gzip

        path.write_bytes(gzip.compress(tmp.read_bytes()))
    else:
        write_table(path, big)
    got = eval_json(
        capsys,
        path,
        "--y-true", "y",
        "--y-score", "score",
        "--batch-size", "7919",
        "--metrics", "accuracy,f1,mcc,confusion_matrix",
    )  # fmt: skip
    t, p = big["y"], (big["score"] >= 0.5).astype(int)
    assert got["n_samples"] == 200_000
    assert got["metrics"]["accuracy"] == pytest.approx(sk.accuracy_score(t, p), rel=1e-12)
    assert got["metrics"]["f1"] == pytest.approx(sk.f1_score(t, p), rel=1e-12)
    assert got["metrics"]["mcc"] == pytest.approx(sk.matthews_corrcoef(t, p), rel=1e-12)
    assert got["metrics"]["confusion_matrix"] == sk.confusion_matrix(t, p).tolist()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_multi_batch_multiclass_strings_weights_equal_sklearn(tmp_path, capsys, big, suffix):
    path = write_table(tmp_path / f"big{suffix}", big)
    got = eval_json(
        capsys,
        path,
        "--y-true", "animal",
        "--y-pred", "guess",
        "--sample-weight", "w",
        "--batch-size", "10007",
        "--average", "none",
        "--metrics", "precision,recall,f1,accuracy,cohen_kappa,confusion_matrix",
    )  # fmt: skip
    t, p, w = big["animal"], big["guess"], big["w"]
    assert got["task"] == "multiclass" and "3 distinct labels" in got["task_note"]
    assert got["classes"] == ["cat", "dog", "emu"]
    m = got["metrics"]
    for name, fn in [("precision", sk.precision_score), ("recall", sk.recall_score)]:
        np.testing.assert_allclose(m[name], fn(t, p, average=None, sample_weight=w), rtol=1e-10)
    np.testing.assert_allclose(
        m["f1"], sk.f1_score(t, p, average=None, sample_weight=w), rtol=1e-10
    )
    assert m["accuracy"] == pytest.approx(sk.accuracy_score(t, p, sample_weight=w), rel=1e-10)
    assert m["cohen_kappa"] == pytest.approx(sk.cohen_kappa_score(t, p, sample_weight=w), rel=1e-10)
    np.testing.assert_allclose(
        m["confusion_matrix"], sk.confusion_matrix(t, p, sample_weight=w), rtol=1e-10
    )


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pairs=st.lists(
        st.tuples(st.sampled_from("abcd"), st.sampled_from("abcde")), min_size=1, max_size=60
    ),
    batch_size=st.integers(1, 17),
)
def test_string_labels_any_batching_equal_sklearn(tmp_path, capsys, pairs, batch_size):
    t = np.array([a for a, _ in pairs])
    p = np.array([b for _, b in pairs])
    path = write_table(tmp_path / "h.csv", {"t": t, "p": p})
    classes = sorted(set(t) | set(p))
    if len(classes) < 2:
        return
    got = eval_json(
        capsys,
        path,
        "--y-true", "t",
        "--y-pred", "p",
        "--batch-size", batch_size,
        "--zero-division", "0",
        "--metrics", "accuracy,f1,confusion_matrix",
        "--task", "multiclass",
    )  # fmt: skip
    assert got["classes"] == classes
    assert got["metrics"]["accuracy"] == pytest.approx(sk.accuracy_score(t, p))
    assert got["metrics"]["f1"] == pytest.approx(
        sk.f1_score(t, p, average="macro", labels=classes, zero_division=0)
    )
    assert got["metrics"]["confusion_matrix"] == sk.confusion_matrix(t, p, labels=classes).tolist()


# -- labels, classes and tasks ------------------------------------------------------------


def test_task_inference_is_reported(tmp_path, capsys):
    path = write_table(
        tmp_path / "d.csv",
        {"a": [1, 2, 2, 1], "b": [2, 2, 1, 1], "c": [0, 1, 2, 0], "d": [0, 2, 2, 1]},
    )
    got = eval_json(capsys, path, "--y-true", "a", "--y-pred", "b")
    assert got["task"] == "binary" and got["task_note"] == "inferred: 2 distinct labels"
    assert got["classes"] == [1, 2] and got["positive_label"] == 2
    assert got["metrics"]["f1"] == pytest.approx(sk.f1_score([1, 2, 2, 1], [2, 2, 1, 1]))
    got = eval_json(capsys, path, "--y-true", "c", "--y-pred", "d")
    assert got["task"] == "multiclass" and got["classes"] == [0, 1, 2]
    rc, out, _ = run_eval(capsys, path, "--y-true", "c", "--y-pred", "d")
    assert "task: multiclass" in out.splitlines()[0]
    assert "task inferred: 3 distinct labels" in out


def test_pos_label_for_string_binary(tmp_path, capsys):
    t = ["spam", "ham", "spam", "ham", "ham"]
    p = ["spam", "spam", "ham", "ham", "ham"]
    path = write_table(tmp_path / "d.csv", {"t": t, "p": p})
    got = eval_json(capsys, path, "--y-true", "t", "--y-pred", "p")
    assert got["positive_label"] == "spam"  # the larger of the two, sorted
    got = eval_json(capsys, path, "--y-true", "t", "--y-pred", "p", "--pos-label", "ham")
    assert got["classes"] == ["spam", "ham"] and got["positive_label"] == "ham"
    assert got["metrics"]["precision"] == pytest.approx(sk.precision_score(t, p, pos_label="ham"))
    expect_error(
        capsys, path, "--y-true", "t", "--y-pred", "p", "--pos-label", "eggs",
        match="--pos-label 'eggs' is not one of the labels",
    )  # fmt: skip


def test_binary_scores_with_string_truth(tmp_path, capsys):
    t = np.array(["no", "yes", "yes", "no", "yes"])
    s = np.array([0.2, 0.7, 0.4, 0.6, 0.9])
    path = write_table(tmp_path / "d.parquet", {"t": t, "s": s})
    got = eval_json(capsys, path, "--y-true", "t", "--y-score", "s", "--metrics", "recall")
    assert got["task"] == "binary" and got["positive_label"] == "yes"
    p = np.where(s >= 0.5, "yes", "no")
    assert got["metrics"]["recall"] == pytest.approx(sk.recall_score(t, p, pos_label="yes"))


def test_booleans_and_integer_valued_floats(tmp_path, capsys):
    t = [True, False, True, True]
    p = [1.0, 0.0, 0.0, 1.0]  # labels written as floats
    path = write_table(tmp_path / "d.parquet", {"t": t, "p": p})
    got = eval_json(capsys, path, "--y-true", "t", "--y-pred", "p", "--metrics", "accuracy")
    assert got["task"] == "binary"
    assert got["metrics"]["accuracy"] == 0.75


def test_labels_fix_order_and_reject_others(tmp_path, capsys):
    t = ["lo", "mid", "hi", "mid", "lo"]
    p = ["lo", "hi", "hi", "mid", "mid"]
    path = write_table(tmp_path / "d.csv", {"t": t, "p": p})
    got = eval_json(
        capsys, path, "--y-true", "t", "--y-pred", "p", "--labels", "lo,mid,hi",
        "--metrics", "confusion_matrix,recall", "--average", "none",
    )  # fmt: skip
    assert got["task"] == "multiclass" and got["classes"] == ["lo", "mid", "hi"]
    labels = ["lo", "mid", "hi"]
    assert got["metrics"]["confusion_matrix"] == sk.confusion_matrix(t, p, labels=labels).tolist()
    np.testing.assert_allclose(
        got["metrics"]["recall"], sk.recall_score(t, p, labels=labels, average=None)
    )
    line = expect_error(
        capsys, path, "--y-true", "t", "--y-pred", "p", "--labels", "lo,mid",
        match=r"column 't' has labels outside the classes \['lo', 'mid'\]: 'hi' \(first in row 3\)",
    )  # fmt: skip
    assert "fix --labels" in line


def test_num_classes_counts_absent_classes(tmp_path, capsys):
    t, p = [0, 1, 1, 0], [0, 1, 0, 0]
    path = write_table(tmp_path / "d.csv", {"t": t, "p": p})
    got = eval_json(
        capsys, path, "--y-true", "t", "--y-pred", "p", "--num-classes", "3",
        "--zero-division", "0", "--metrics", "recall,confusion_matrix",
    )  # fmt: skip
    assert got["task"] == "multiclass" and got["classes"] == [0, 1, 2]
    assert got["metrics"]["recall"] == pytest.approx(
        sk.recall_score(t, p, labels=[0, 1, 2], average="macro", zero_division=0)
    )
    assert len(got["metrics"]["confusion_matrix"]) == 3


def test_multiclass_scores(tmp_path, capsys):
    rng = np.random.default_rng(3)
    n = 500
    scores = rng.random((n, 3))
    names = np.array(["bird", "cat", "dog"])
    ti = rng.integers(0, 3, n)
    cols = {"y": ti, "name": names[ti], "p0": scores[:, 0], "p1": scores[:, 1], "p2": scores[:, 2]}
    cols |= {"bird": scores[:, 0], "cat": scores[:, 1], "dog": scores[:, 2]}
    path = write_table(tmp_path / "d.parquet", cols)
    pred = scores.argmax(axis=1)
    expected = sk.f1_score(ti, pred, average="macro")
    # integer truth: class i is score column i
    got = eval_json(
        capsys, path, "--y-true", "y", "--y-score", "p0", "p1", "p2", "--batch-size", 64
    )
    assert got["task"] == "multiclass" and got["task_note"] == "inferred: 3 score columns"
    assert got["metrics"]["f1"] == pytest.approx(expected)
    assert "threshold" not in got
    # string truth named like the score columns, given in another order
    got = eval_json(capsys, path, "--y-true", "name", "--y-score", "dog", "bird", "cat")
    assert got["classes"] == ["dog", "bird", "cat"]
    order = np.array([2, 0, 1])
    pred2 = order[scores[:, order].argmax(axis=1)]
    assert got["metrics"]["f1"] == pytest.approx(sk.f1_score(ti, pred2, average="macro"))
    # string truth, unrelated column names: sorted labels in column order
    got = eval_json(capsys, path, "--y-true", "name", "--y-score", "p0", "p1", "p2")
    assert got["classes"] == ["bird", "cat", "dog"]
    assert got["metrics"]["f1"] == pytest.approx(expected)
    # or named explicitly
    got = eval_json(
        capsys, path, "--y-true", "name", "--y-score", "p0", "p1", "p2", "--labels", "bird,cat,dog"
    )
    assert got["metrics"]["f1"] == pytest.approx(expected)


def test_multilabel(tmp_path, capsys):
    rng = np.random.default_rng(5)
    n = 300
    y = rng.integers(0, 2, (n, 3))
    s = np.clip(y * 0.4 + rng.random((n, 3)) * 0.6, 0, 1)
    cols = {f"t{i}": y[:, i] for i in range(3)} | {f"s{i}": s[:, i] for i in range(3)}
    cols |= {f"p{i}": (s[:, i] >= 0.5).astype(bool) for i in range(3)}
    path = write_table(tmp_path / "d.csv", cols)
    p = (s >= 0.5).astype(int)
    for given_cols in (["--y-score", "s0", "s1", "s2"], ["--y-pred", "p0", "p1", "p2"]):
        got = eval_json(
            capsys, path, "--task", "multilabel", "--y-true", "t0", "t1", "t2", *given_cols,
            "--batch-size", 50, "--metrics", "accuracy,f1,hamming_loss,confusion_matrix",
        )  # fmt: skip
        assert got["task"] == "multilabel" and got["classes"] == ["t0", "t1", "t2"]
        m = got["metrics"]
        assert m["accuracy"] == pytest.approx(sk.accuracy_score(y, p))
        assert m["f1"] == pytest.approx(sk.f1_score(y, p, average="macro"))
        assert m["hamming_loss"] == pytest.approx(sk.hamming_loss(y, p))
        assert m["confusion_matrix"] == sk.multilabel_confusion_matrix(y, p).tolist()
    # several --y-true columns imply multilabel
    got = eval_json(capsys, path, "--y-true", "t0", "t1", "t2", "--y-score", "s0", "s1", "s2")
    assert got["task"] == "multilabel"
    rc, out, _ = run_eval(
        capsys, path, "--y-true", "t0", "t1", "t2", "--y-score", "s0", "s1", "s2",
        "--metrics", "confusion_matrix",
    )  # fmt: skip
    lines = out.splitlines()
    k = lines.index("confusion_matrix per label (tn fp / fn tp)")
    assert lines[k + 1].split() == ["label", "tn", "fp", "fn", "tp"]
    mcm = sk.multilabel_confusion_matrix(y, p)
    for row, name, m in zip(lines[k + 2 : k + 5], ["t0", "t1", "t2"], mcm, strict=True):
        assert row.split() == [name, *map(str, m.ravel())]
    expect_error(
        capsys, path, "--task", "multilabel", "--y-true", "t0", "t1", "--y-score", "s0",
        match="one --y-score column per --y-true column",
    )  # fmt: skip


def test_fbeta_beta(tmp_path, capsys):
    data = shipped()
    t, p = data["y_true"].astype(int), data["y_pred"].astype(int)
    got = eval_json(capsys, "--metrics", "fbeta,f1", "--beta", "2")
    assert got["metrics"]["fbeta"] == pytest.approx(sk.fbeta_score(t, p, beta=2), rel=1e-12)
    assert got["metrics"]["f1"] == pytest.approx(sk.f1_score(t, p), rel=1e-12)


# -- output ----------------------------------------------------------------------------------


def test_table_per_class_rows_and_confusion_matrix(capsys):
    rc, out, err = run_eval(
        capsys, "--y-true", "true_class", "--y-pred", "pred_class", "--average", "none",
        "--metrics", "accuracy,precision,confusion_matrix",
    )  # fmt: skip
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[2] == ""
    assert lines[3].split() == ["metric", "class", "value"]
    assert lines[4].split()[0] == "accuracy"
    precision = [ln.split() for ln in lines if ln.startswith("precision")]
    assert [r[1] for r in precision] == ["benign", "malignant"]
    i = lines.index("confusion_matrix (rows: true class, columns: predicted class)")
    data = shipped()
    cm = sk.confusion_matrix(data["true_class"], data["pred_class"], labels=["benign", "malignant"])
    assert lines[i + 1].split() == ["true", "\\", "pred", "benign", "malignant"]
    assert lines[i + 2].split() == ["benign", *map(str, cm[0])]
    assert lines[i + 3].split() == ["malignant", *map(str, cm[1])]
    # the value column is right-aligned
    assert len({len(ln) for ln in lines[3 : i - 1]}) == 1


def test_output_file(tmp_path, capsys):
    target = tmp_path / "result.json"
    rc, out, err = run_eval(capsys, "--format", "json", "--output", target)
    assert (rc, out, err) == (0, "", "")
    assert json.loads(target.read_text())["n_samples"] == 171


def test_nan_is_null_in_json_and_warnings_are_one_line(tmp_path, capsys):
    path = write_table(tmp_path / "d.csv", {"t": [0, 0, 0], "p": [0, 0, 0]})
    rc, out, err = run_eval(
        capsys, path, "--y-true", "t", "--y-pred", "p", "--task", "binary",
        "--metrics", "precision,accuracy", "--format", "json",
    )  # fmt: skip
    assert rc == 0
    assert json.loads(out)["metrics"]["accuracy"] == 1.0
    assert err.startswith("calipers eval: warning: ")
    assert all(ln.startswith("calipers eval: warning: ") for ln in err.splitlines())
    rc, out, err = run_eval(
        capsys, path, "--y-true", "t", "--y-pred", "p", "--task", "binary",
        "--metrics", "precision", "--format", "json", "--zero-division", "nan",
    )  # fmt: skip
    assert rc == 0 and err == ""
    assert json.loads(out)["metrics"]["precision"] is None


def test_progress_flag(tmp_path, capsys):
    rc, _, err = run_eval(capsys, "--progress")
    assert rc == 0 and "evaluating" in err and "100%" in err
    rc, _, err = run_eval(capsys, "--no-progress")
    assert rc == 0 and err == ""


def test_file_after_a_column_list_is_taken_as_the_file(tmp_path, capsys):
    path = write_table(tmp_path / "d.csv", {"t": [0, 1, 1], "s": [0.2, 0.8, 0.3]})
    got = eval_json(capsys, "--y-true", "t", "--y-score", "s", path)
    assert got["file"] == str(path)
    assert got["metrics"]["accuracy"] == pytest.approx(2 / 3)


# -- errors: one line, exit code 2 -------------------------------------------------------------


def test_errors(tmp_path, capsys):
    path = write_table(tmp_path / "d.csv", {"t": [0, 1, 2, 1], "p": [0, 1, 1, 1], "s": [0.1] * 4})
    expect_error(capsys, tmp_path / "nope.csv", match=r"no such file: .*nope\.csv")
    (tmp_path / "d.xlsx").write_text("x")
    expect_error(capsys, tmp_path / "d.xlsx", "--y-true", "t", match="cannot tell the format")
    expect_error(
        capsys, path, "--y-true", "t", "--y-pred", "zz",
        match=r"column 'zz' not found .* the file has: 't', 'p', 's'",
    )  # fmt: skip
    expect_error(capsys, path, match=r"'y_true', 'y_pred' not found .*choose columns with --y-true")
    expect_error(
        capsys, path, "--y-true", "t", "--y-pred", "p", "--metrics", "f1,nonsense",
        match="unknown metric 'nonsense'",
    )  # fmt: skip
    expect_error(
        capsys, path, "--y-true", "t", "--y-pred", "p", "--task", "binary",
        match=r"in rows 1-4: .*label 2.*binary integer labels must be 0/1",
    )  # fmt: skip
    expect_error(
        capsys, path, "--y-true", "t", "--y-pred", "p", "--task", "binary", "--pos-label", "1",
        match=r"binary task, but the labels have 3 distinct values: 0, 1, 2",
    )  # fmt: skip
    expect_error(
        capsys, path, "--y-true", "t", "--y-score", "s",
        match="one --y-score column means a binary task",
    )  # fmt: skip
    expect_error(
        capsys, path, "--y-true", "t", "--y-pred", "p", "s",
        match="several --y-pred columns",
    )  # fmt: skip
    expect_error(
        capsys, path, "--y-true", "t", "--y-pred", "p", "--labels", "0,1,1",
        match="--labels has duplicates",
    )  # fmt: skip
    expect_error(
        capsys, path, "--y-true", "t", "--y-pred", "p", "--labels", "a,b,c",
        match="--labels value 'a' is not valid: the label columns hold integers",
    )  # fmt: skip


def test_missing_values_are_an_error_with_the_row(tmp_path, capsys):
    path = tmp_path / "d.csv"
    path.write_text("t,s\n0,0.1\n1,0.9\n1,\n0,0.4\n")
    expect_error(
        capsys, path, "--y-true", "t", "--y-score", "s",
        match=r"column 's' has a missing value .* row 3 ",
    )  # fmt: skip


def test_empty_file_is_an_error(tmp_path, capsys):
    path = tmp_path / "d.csv"
    path.write_text("y_true,y_pred\n")
    expect_error(capsys, path, "--task", "binary", match="has no data rows")


def test_score_column_given_as_labels(tmp_path, capsys):
    rng = np.random.default_rng(0)
    path = write_table(
        tmp_path / "d.parquet", {"t": rng.integers(0, 2, 5000), "s": rng.random(5000)}
    )
    expect_error(
        capsys, path, "--y-true", "t", "--y-pred", "s",
        match=r"more than 1000 distinct labels .* Use --y-score for scores",
    )  # fmt: skip


def test_command_line_exit_code_and_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "calipers.cli.main", "eval", str(tmp_path / "missing.parquet")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().startswith("calipers eval: error: no such file")
    assert "Traceback" not in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "calipers.cli.main", "eval"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "accuracy" in proc.stdout


# -- score metrics, pictures and bootstrap intervals ----------------------------------------

PNG = b"\x89PNG\r\n\x1a\n"


def _png(path):
    assert path.is_file(), path
    assert path.stat().st_size > 0
    assert path.read_bytes()[:8] == PNG


def test_shipped_data_reports_auc_and_average_precision(capsys):
    data = shipped()
    t, s = data["y_true"].astype(int), data["y_score"].astype(float)
    got = eval_json(capsys)
    assert got["columns"]["y_score"] == "y_score"
    m = got["metrics"]
    assert m["roc_auc"] == pytest.approx(sk.roc_auc_score(t, s), rel=1e-12)
    assert m["average_precision"] == pytest.approx(sk.average_precision_score(t, s), rel=1e-12)
    # the confusion metrics still use y_pred
    assert m["f1"] == pytest.approx(sk.f1_score(t, data["y_pred"].astype(int)), rel=1e-12)


def test_plot_on_the_shipped_data_writes_three_pictures(tmp_path, capsys):
    out_dir = tmp_path / "new" / "plots"
    rc, out, err = run_eval(capsys, "--plot", out_dir)
    assert rc == 0, err
    for name in ("roc.png", "pr.png", "confusion_matrix.png"):
        _png(out_dir / name)
        assert str(out_dir / name) in out
    assert "plots written:" in out
    got = eval_json(capsys, "--plot", out_dir)
    assert sorted(got["plots"]) == sorted(
        str(out_dir / n) for n in ("roc.png", "pr.png", "confusion_matrix.png")
    )


def test_plot_curves_follow_the_given_score_column(tmp_path, capsys, monkeypatch):
    """The pictures hold the data: the ROC line is sklearn's curve of the score column."""
    from calipers.evaluate import _scores

    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 500)
    s = np.round(rng.random(500) * 0.6 + 0.4 * y, 3)
    path = write_table(tmp_path / "p.csv", {"label": y, "p": s})
    seen = {}
    real = _scores.write_plots

    def spy(directory, suite, extras, plan, title):
        seen["roc"] = extras.curves["roc"].compute()
        seen["pr"] = extras.curves["pr"].compute()
        return real(directory, suite, extras, plan, title)

    monkeypatch.setattr("calipers.evaluate._run.write_plots", spy)
    got = eval_json(capsys, path, "--y-true", "label", "--y-score", "p",
                    "--plot", tmp_path / "out", "--batch-size", "97")
    fpr, tpr, _ = sk.roc_curve(y, s)
    np.testing.assert_allclose(seen["roc"].fpr, fpr)
    np.testing.assert_allclose(seen["roc"].tpr, tpr)
    assert got["metrics"]["roc_auc"] == pytest.approx(sk.roc_auc_score(y, s), rel=1e-12)
    assert got["metrics"]["average_precision"] == pytest.approx(
        sk.average_precision_score(y, s), rel=1e-12)
    ax = seen["roc"].plot()
    np.testing.assert_allclose(ax.lines[0].get_xdata(), fpr)
    for name in ("roc.png", "pr.png", "confusion_matrix.png"):
        _png(tmp_path / "out" / name)


def test_plot_multiclass_and_multilabel_write_the_confusion_matrix_only(tmp_path, capsys):
    rng = np.random.default_rng(6)
    t = rng.integers(0, 3, 90)
    path = write_table(tmp_path / "m.csv", {"t": t, "p": rng.integers(0, 3, 90),
                                           "a": t % 2, "b": t // 2, "pa": rng.random(90),
                                           "pb": rng.random(90)})
    got = eval_json(capsys, path, "--y-true", "t", "--y-pred", "p", "--plot", tmp_path / "mc")
    assert got["plots"] == [str(tmp_path / "mc" / "confusion_matrix.png")]
    assert "roc_auc" not in got["metrics"]
    _png(tmp_path / "mc" / "confusion_matrix.png")
    got = eval_json(capsys, path, "--task", "multilabel", "--y-true", "a", "b",
                    "--y-score", "pa", "pb", "--plot", tmp_path / "ml")
    assert got["plots"] == [str(tmp_path / "ml" / "confusion_matrix.png")]
    _png(tmp_path / "ml" / "confusion_matrix.png")


def test_score_metrics_by_name(tmp_path, capsys):
    data = shipped()
    t, s = data["y_true"].astype(int), data["y_score"].astype(float)
    got = eval_json(capsys, "--y-score", "y_score", "--metrics", "f1,roc_auc")
    assert list(got["metrics"]) == ["f1", "roc_auc"]
    assert got["metrics"]["roc_auc"] == pytest.approx(sk.roc_auc_score(t, s), rel=1e-12)
    got = eval_json(capsys, "--y-score", "y_score", "--metrics", "average_precision")
    assert list(got["metrics"]) == ["average_precision"]
    expect_error(capsys, "--y-true", "y_true", "--y-pred", "y_pred", "--metrics", "roc_auc",
                 match="roc_auc.*needs scores.*--y-score")


def test_bootstrap_intervals(capsys):
    from calipers.metrics import metric
    from calipers.metrics._bootstrap import bootstrap

    data = shipped()
    t, p = data["y_true"].astype(int), data["y_pred"].astype(int)
    s = data["y_score"].astype(float)
    got = eval_json(capsys, "--bootstrap", "200", "--seed", "7", "--confidence", "0.9")
    assert got["bootstrap"] == {"n": 200, "seed": 7, "confidence": 0.9}
    iv = got["intervals"]
    assert set(iv) == set(got["metrics"])
    for name, (lo, hi) in iv.items():
        assert lo <= got["metrics"][name] <= hi, name
    f1 = bootstrap(metric("f1"), t, p, n=200, seed=7, confidence=0.9)
    assert iv["f1"] == [pytest.approx(f1.low, rel=1e-12), pytest.approx(f1.high, rel=1e-12)]
    auc = bootstrap(metric("roc_auc"), t, s, n=200, seed=7, confidence=0.9)
    assert iv["roc_auc"] == [pytest.approx(auc.low), pytest.approx(auc.high)]
    assert eval_json(capsys, "--bootstrap", "200", "--seed", "7",
                     "--confidence", "0.9")["intervals"] == iv
    rc, out, err = run_eval(capsys, "--bootstrap", "50")
    assert rc == 0, err
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("metric"))
    assert header.split() == ["metric", "value", "low", "high"]
    assert "90%" not in out and "95% bootstrap percentile interval (50 replicates, seed 0)" in out


def test_bootstrap_multiclass_per_class_and_weights(tmp_path, capsys):
    rng = np.random.default_rng(8)
    t = rng.integers(0, 3, 300)
    p = np.where(rng.random(300) < 0.7, t, rng.integers(0, 3, 300))
    w = rng.random(300)
    path = write_table(tmp_path / "w.parquet", {"t": t, "p": p, "w": w})
    got = eval_json(capsys, path, "--y-true", "t", "--y-pred", "p", "--sample-weight", "w",
                    "--average", "none", "--metrics", "recall,accuracy,confusion_matrix",
                    "--bootstrap", "100")
    assert set(got["intervals"]) == {"recall", "accuracy"}  # no interval for the matrix
    lo, hi = got["intervals"]["recall"]
    assert len(lo) == len(hi) == 3
    assert all(a <= v <= b for a, v, b in zip(lo, got["metrics"]["recall"], hi, strict=True))


@pytest.mark.parametrize(
    "argv", [["--bootstrap", "0"], ["--confidence", "1.5"], ["--seed", "-1"], ["--seed", "x"]]
)
def test_parser_rejects_bad_bootstrap_options(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        make_parser().parse_args(["eval", *argv])
    assert exc.value.code == 2


def test_plot_without_matplotlib_names_the_extra(tmp_path, capsys, monkeypatch):
    from calipers.errors import MissingExtraError
    from calipers.metrics import _plot

    def missing(feature="plotting"):
        raise MissingExtraError("matplotlib", "plot", feature)

    monkeypatch.setattr(_plot, "pyplot", missing)
    line = expect_error(capsys, "--plot", tmp_path / "x", match=r"calipers\[plot\]")
    assert "matplotlib" in line
    assert not (tmp_path / "x").exists()
