"""Tests of the TOML spec of ``calipers tune`` / ``calipers run``: parsing and validation."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from calipers.cli import tune as cli_tune
from calipers.cli._tune_spec import (
    DEFAULT_STORAGE_FILE,
    SpecError,
    TuneSpec,
    load_spec,
    parse_spec,
    resolve_storage,
)

GOOD = """
study_name = "s"
seed = 3
scoring = "roc_auc"

[data]
dataset = "breast_cancer"
test_size = 0.2

[estimator]
class = "sklearn.ensemble.HistGradientBoostingClassifier"
params = { max_iter = 20 }

[space]
learning_rate = { type = "float", low = 0.01, high = 0.3, log = true }
max_leaf_nodes = { type = "int", low = 4, high = 32, step = 2 }
loss = { type = "categorical", choices = ["log_loss"] }

[searcher]
name = "random"

[budget]
n_trials = 7
timeout = 60
n_jobs = 2
threads = 0

[cv]
n_splits = 3
stratified = false
shuffle = true
seed = 11
"""


def write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def spec_from(tmp_path: Path, text: str) -> TuneSpec:
    return load_spec(write(tmp_path, text))


def replace(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def test_good_spec(tmp_path):
    s = spec_from(tmp_path, GOOD)
    assert s.study_name == "s"
    assert s.seed == 3 and s.split_seed == 3 and s.cv_seed == 11
    assert s.scoring == "roc_auc"
    assert s.dataset == "breast_cancer" and s.path is None and s.test_size == 0.2
    assert s.estimator_class == "sklearn.ensemble.HistGradientBoostingClassifier"
    assert s.estimator_params == {"max_iter": 20}
    assert list(s.space) == ["learning_rate", "max_leaf_nodes", "loss"]
    assert s.searcher == "random" and s.searcher_options == {}
    assert (s.n_trials, s.timeout, s.n_jobs, s.threads) == (7, 60.0, 2, 0)
    assert (s.n_splits, s.stratified, s.shuffle) == (3, False, True)
    assert s.storage == f"sqlite:///{(tmp_path.resolve() / DEFAULT_STORAGE_FILE).as_posix()}"


def test_defaults(tmp_path):
    text = """
[data]
path = "d.csv"
target = "y"
[estimator]
class = "sklearn.linear_model.LogisticRegression"
[space]
C = { type = "float", low = 0.1, high = 10.0 }
"""
    s = spec_from(tmp_path, text)
    assert s.study_name == "spec"  # the file's stem
    assert s.path == tmp_path.resolve() / "d.csv"
    assert (s.searcher, s.n_trials, s.timeout, s.n_jobs, s.threads) == ("bayes", 30, None, 1, 1)
    assert (s.n_splits, s.stratified, s.shuffle, s.seed, s.cv_seed) == (5, None, True, 0, 0)
    assert s.scoring == ""  # chosen from the estimator later


def test_searcher_options_pass_through(tmp_path):
    s = spec_from(tmp_path, replace(GOOD, 'name = "random"', 'name = "bayes"\nn_initial = 5'))
    assert s.searcher == "bayes" and s.searcher_options == {"n_initial": 5}


def test_with_seed_changes_only_seeds_not_set(tmp_path):
    s = spec_from(tmp_path, GOOD).with_seed(99)
    assert (s.seed, s.split_seed, s.cv_seed) == (99, 99, 11)  # [cv] seed was given
    s2 = spec_from(tmp_path, replace(GOOD, "seed = 11\n", "")).with_seed(5)
    assert (s2.seed, s2.split_seed, s2.cv_seed) == (5, 5, 5)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (None, "sqlite:///BASE/calipers-study.db"),
        ("sqlite:///rel/x.db", "sqlite:///BASE/rel/x.db"),
        ("sqlite:////abs/x.db", "sqlite:////abs/x.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("x.db", "sqlite:///BASE/x.db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ],
)
def test_resolve_storage(url, expected):
    base = Path("/base/dir")
    assert resolve_storage(url, base) == expected.replace("BASE", "/base/dir")


BAD = [
    # (old, new, message pattern)
    ("study_name", "studyname", r"unknown key 'studyname' in the top level; did you mean "
                                r"'study_name'\?"),
    ("n_trials = 7", "n_trial = 7", r"unknown key 'n_trial' in \[budget\]; did you mean "
                                    r"'n_trials'\?"),
    ("n_trials = 7", "n_trials = 0", r"\[budget\] n_trials must be an integer >= 1, got 0"),
    ("n_trials = 7", 'n_trials = "7"', r"\[budget\] n_trials must be an integer >= 1, got '7'"),
    ("n_trials = 7", "n_trials = 7.5", r"\[budget\] n_trials must be an integer"),
    ("n_trials = 7", "n_trials = true", r"\[budget\] n_trials must be an integer"),
    ("timeout = 60", "timeout = -1", r"\[budget\] timeout must be a positive number"),
    ("n_jobs = 2", "n_jobs = 0", r"\[budget\] n_jobs must be a positive integer or -1"),
    ("threads = 0", "threads = -1", r"\[budget\] threads must be an integer >= 0"),
    ("n_splits = 3", "n_splits = 1", r"\[cv\] n_splits must be an integer >= 2, got 1"),
    ("stratified = false", 'stratified = "no"', r"\[cv\] stratified must be true or false"),
    ("shuffle = true", "shufle = true", r"unknown key 'shufle' in \[cv\]; did you mean "
                                        r"'shuffle'\?"),
    ("seed = 3", "seed = -3", r"seed must be an integer >= 0, got -3"),
    ('dataset = "breast_cancer"', 'dataset = "california_housing"',
     r"dataset 'california_housing' is not bundled; choose one of breast_cancer, digits, "
     r"iris, wine, diabetes"),
    ('dataset = "breast_cancer"', 'path = "x.csv"', r"'path' needs 'target'"),
    ('dataset = "breast_cancer"', 'dataset = "iris"\npath = "x.csv"',
     r"needs exactly one of 'dataset'"),
    ('dataset = "breast_cancer"', 'dataset = "iris"\ntarget = "y"',
     r"'target' and 'features' go with 'path'"),
    ("test_size = 0.2", "test_size = 1.0", r"\[data\] test_size must be in \(0, 1\)"),
    ("test_size = 0.2", "test_size = 0", r"\[data\] test_size must be in \(0, 1\)"),
    ('class = "sklearn.ensemble.HistGradientBoostingClassifier"', 'class = "Forest"',
     r"\[estimator\] class must be an import path"),
    ("params = { max_iter = 20 }", "params = 3", r"\[estimator\] params must be a table"),
    ('type = "float", low = 0.01', 'type = "real", low = 0.01',
     r"\[space\] learning_rate: type must be one of \"float\", \"int\", \"categorical\", "
     r"got 'real'"),
    ("high = 0.3, log = true", "hi = 0.3, log = true",
     r"\[space\] learning_rate: unknown key 'hi' for type 'float'"),
    ("high = 0.3, log = true", "high = 0.3, log = 1",
     r"\[space\] learning_rate: log must be true or false"),
    ("low = 4, high = 32", "low = 4", r"\[space\] max_leaf_nodes: int needs 'high'"),
    ("low = 4, high = 32", 'low = "4", high = 32', r"\[space\] max_leaf_nodes: low must be a "
                                                   r"number"),
    ('choices = ["log_loss"]', 'choices = "log_loss"',
     r"\[space\] loss: categorical needs choices = \[...\]"),
    ('choices = ["log_loss"] }', 'choices = ["log_loss"], condition = 3 }',
     r"\[space\] loss: condition must be"),
    ('name = "random"', 'name = "random"\nseed = 1', r"\[searcher\] seed: set the top-level"),
    ("[space]", "[spaces]", r"unknown key 'spaces' in the top level; did you mean 'space'"),
    ("[budget]", "[budget.x]", r"unknown key 'x' in \[budget\]"),
]


@pytest.mark.parametrize(("old", "new", "pattern"), BAD)
def test_bad_specs_name_the_key(tmp_path, old, new, pattern):
    with pytest.raises(SpecError) as info:
        spec_from(tmp_path, replace(GOOD, old, new))
    msg = str(info.value)
    assert msg.startswith(str(tmp_path / "spec.toml") + ": "), msg
    assert re.search(pattern, msg), msg


@pytest.mark.parametrize("section", ["data", "estimator", "space"])
def test_missing_section(tmp_path, section):
    text = re.sub(rf"\[{section}\]\n(.+\n)+?\n", "", GOOD + "\n")
    assert f"[{section}]" not in text
    with pytest.raises(SpecError, match=rf"missing section \[{section}\]"):
        spec_from(tmp_path, text)


def test_empty_space(tmp_path):
    text = re.sub(r"\[space\]\n(.+\n)+?\n", "[space]\n\n", GOOD)
    with pytest.raises(SpecError, match=r"\[space\] is empty"):
        spec_from(tmp_path, text)


def test_not_toml(tmp_path):
    with pytest.raises(SpecError, match=r"spec.toml: not valid TOML"):
        spec_from(tmp_path, "[data\nx = ")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such spec file"):
        load_spec(tmp_path / "nope.toml")


def test_section_must_be_table():
    with pytest.raises(SpecError, match=r"\[budget\] must be a table"):
        parse_spec({"data": {"dataset": "iris"}, "estimator": {"class": "a.B"},
                    "space": {"C": {"type": "float", "low": 0.1, "high": 1.0}},
                    "budget": 5}, source="x", base_dir=Path("."), default_name="x")


def test_condition_forms_accepted(tmp_path):
    text = replace(GOOD, 'loss = { type = "categorical", choices = ["log_loss"] }',
                   'loss = { type = "categorical", choices = ["log_loss"], '
                   'condition = { parent = "max_leaf_nodes", values = [4] } }\n'
                   'l2_regularization = { type = "float", low = 0.0, high = 1.0, '
                   'condition = { max_leaf_nodes = [4, 6] } }')
    s = spec_from(tmp_path, text)
    assert s.space["loss"]["condition"] == {"parent": "max_leaf_nodes", "values": [4]}


# -- command-line overrides ----------------------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="calipers")
    cli_tune.add_parser(parser.add_subparsers())
    return parser.parse_args(["tune", *argv])


def test_overrides(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = spec_from(tmp_path, GOOD)
    args = parse("spec.toml", "--storage", "other.db", "--study-name", "t", "--n-trials", "4",
                 "--n-jobs", "-1", "--timeout", "2.5", "--seed", "8", "--no-progress")
    o = cli_tune.apply_overrides(s, args)
    assert o.storage == f"sqlite:///{(tmp_path / 'other.db').as_posix()}"
    assert (o.study_name, o.n_trials, o.n_jobs, o.timeout) == ("t", 4, -1, 2.5)
    assert (o.seed, o.split_seed, o.cv_seed) == (8, 8, 11)
    assert args.progress is False
    assert cli_tune.apply_overrides(s, parse("spec.toml")) == s


@pytest.mark.parametrize(
    "argv",
    [["--n-trials", "0"], ["--n-jobs", "0"], ["--n-jobs", "-2"], ["--timeout", "0"],
     ["--seed", "-1"], ["--progress", "--no-progress"], []],
)
def test_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit):
        parse(*(["spec.toml"] if argv else []), *argv)
    assert "calipers tune" in capsys.readouterr().err


def test_the_bundled_spec_is_valid():
    from calipers.cli.run import default_spec_path

    s = load_spec(default_spec_path())
    assert s.dataset == "breast_cancer"
    assert s.estimator_class == "sklearn.ensemble.HistGradientBoostingClassifier"
    assert (s.searcher, s.n_trials, s.n_splits, s.stratified) == ("bayes", 30, 5, True)
    assert s.scoring == "roc_auc"


# -- batch_size ------------------------------------------------------------------------------


def test_batch_size_key_and_option(tmp_path, monkeypatch):
    assert spec_from(tmp_path, GOOD).batch_size is None  # one per parallel slot
    s = spec_from(tmp_path, replace(GOOD, 'name = "random"', 'name = "bayes"\nbatch_size = 4'))
    assert s.batch_size == 4 and s.searcher_options == {}  # not a searcher option
    monkeypatch.chdir(tmp_path)
    assert cli_tune.apply_overrides(s, parse("spec.toml", "--batch-size", "2")).batch_size == 2
    assert cli_tune.apply_overrides(s, parse("spec.toml")).batch_size == 4
    for bad in ("0", "-1", "true", '"4"', "1.5"):
        with pytest.raises(SpecError, match=r"\[searcher\] batch_size must be an integer >= 1"):
            spec_from(tmp_path, replace(GOOD, 'name = "random"', f"batch_size = {bad}"))


@pytest.mark.parametrize("value", ["0", "-2", "x"])
def test_bad_batch_size_argument(value, capsys):
    with pytest.raises(SystemExit):
        parse("spec.toml", "--batch-size", value)
    assert "--batch-size" in capsys.readouterr().err


# -- every problem at once -----------------------------------------------------------------


def test_every_problem_of_a_spec_is_reported_at_once(tmp_path):
    text = GOOD
    for old, new in [
        ("seed = 3", "seed = -3"),
        ("test_size = 0.2", "test_size = 2"),
        ('choices = ["log_loss"]', 'choices = "log_loss"'),
        ("n_trials = 7", "n_trial = 7"),
        ("n_jobs = 2", "n_jobs = 0"),
        ("n_splits = 3", "n_splits = 1"),
        ('name = "random"', 'name = "random"\nbatch_size = 0'),
        ("high = 0.3, log = true", "high = 0.001, log = true"),  # found by the space itself
        ('scoring = "roc_auc"', 'scoring = "auc_roc"'),          # found by the scorers
    ]:
        text = replace(text, old, new)
    with pytest.raises(SpecError) as info:
        spec_from(tmp_path, text)
    problems = info.value.problems
    expected = [
        r"^seed must be an integer >= 0, got -3$",
        r"^\[data\] test_size must be in \(0, 1\)",
        r"^\[space\] loss: categorical needs choices",
        r"^unknown key 'n_trial' in \[budget\]",
        r"^\[budget\] n_jobs must be a positive integer or -1",
        r"^\[cv\] n_splits must be an integer >= 2, got 1$",
        r"^\[searcher\] batch_size must be an integer >= 1, got 0$",
        r"^\[space\] learning_rate: .*low",
        r"^scoring: unknown scoring 'auc_roc'",
    ]
    assert len(problems) == len(expected), problems
    for pattern in expected:
        assert sum(bool(re.search(pattern, p)) for p in problems) == 1, (pattern, problems)
    msg = str(info.value)
    assert msg.startswith(f"{tmp_path / 'spec.toml'}: 9 problems:\n  - "), msg
    assert msg.count("\n  - ") == 9


def test_one_problem_keeps_the_one_line_message(tmp_path):
    with pytest.raises(SpecError) as info:
        spec_from(tmp_path, replace(GOOD, "n_splits = 3", "n_splits = 1"))
    assert info.value.problems == ["[cv] n_splits must be an integer >= 2, got 1"]
    assert str(info.value) == f"{tmp_path / 'spec.toml'}: [cv] n_splits must be an integer " \
                              ">= 2, got 1"


def test_a_bad_value_does_not_cascade(tmp_path):
    """A key of the wrong type is one problem: the checks that build on it are skipped."""
    with pytest.raises(SpecError) as info:
        spec_from(tmp_path, replace(GOOD, 'dataset = "breast_cancer"', "dataset = 3"))
    assert info.value.problems == ["[data] dataset must be a non-empty string, got 3"]
    with pytest.raises(SpecError) as info:
        parse_spec({"data": {"dataset": "iris"}, "estimator": "sklearn.svm.SVC",
                    "space": {"C": {"type": "float", "low": 0.1, "high": 1.0}}},
                   source="x", base_dir=tmp_path, default_name="x")
    assert info.value.problems == ["[estimator] must be a table (a [estimator] section), got "
                                   "'sklearn.svm.SVC'"]
