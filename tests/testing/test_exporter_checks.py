"""The exporter conformance checks: every first-party exporter passes them, and an
exporter broken in one way fails the rule that names that way.

The models are tiny (50 rows, 6 features) and built once, at collection: the
parametrized cases need them. TensorFlow is imported only for the one tfserving case.
"""

from __future__ import annotations

import functools
import importlib
import os
import pathlib
import sys

import numpy as np
import pytest

from calipers import plugins
from calipers._extras import available
from calipers.export import Exporter
from calipers.testing import (
    Case,
    CheckFailure,
    check_exporter,
    exporter_checks,
    parametrize_with_checks,
)

pytest.importorskip("sklearn")
pytest.importorskip("skops")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from sklearn.linear_model import LogisticRegression  # noqa: E402

from calipers.export._builtin import PickleExporter, SkopsExporter  # noqa: E402

RULES = [
    "check_exporter_class",
    "check_export_load_parity",
    "check_manifest_complete",
    "check_runner_stable",
    "check_parity_detects_drift",
    "check_artifact_self_contained",
    "check_tampering_refused",
    "check_no_overwrite",
    "check_unsupported_model_refused",
]

# -- models and cases ------------------------------------------------------------------


@functools.cache
def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 6))
    y = (X[:, 0] + 0.5 * X[:, 1] - X[:, 2] > 0).astype(np.int64)
    return X, y


@functools.cache
def _logreg() -> LogisticRegression:
    return LogisticRegression().fit(*_data())


def _torch_mlp():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))


def _keras_classifier():
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(3, activation="softmax")])


#: first-party exporter name -> the modules its cases need.
NEEDS = {
    "skops": ("skops",),
    "pickle": ("joblib",),
    "onnx": ("onnx", "onnxruntime", "skl2onnx"),
    "tfserving": ("tensorflow", "keras"),
}


def _missing(name: str) -> list[str]:
    return [m for m in NEEDS[name] if not available(m)]


def _cases() -> list[Case]:
    X, _ = _data()
    cases = [
        Case("exporter", "skops", model=_logreg(), sample=X),
        Case("exporter", "pickle", model=_logreg(), sample=X, trusted=True),
    ]
    if not _missing("onnx"):
        cases.append(Case("exporter", "onnx", model=_logreg(), sample=X))
        if available("torch"):
            cases.append(Case("exporter", "onnx", model=_torch_mlp(),
                              sample=X.astype(np.float32), id="onnx-torch",
                              export_options={"exporter": "torchscript"}))
    if not _missing("tfserving"):
        cases.append(Case("exporter", "tfserving", model=_keras_classifier(), sample=X,
                          export_options={"task": "classifier", "classes": ["a", "b", "c"]}))
    return cases


@parametrize_with_checks(_cases())
def test_first_party_exporters_conform(obj, check):
    check()


def test_every_first_party_exporter_has_a_case():
    first_party = sorted({name for info in plugins.list_plugins(all=True) if info.builtin
                          for name in info.provides.get("exporter", [])})
    assert first_party == sorted(NEEDS)
    skipped = {name: _missing(name) for name in first_party if _missing(name)}
    if skipped:
        pytest.skip(f"exporters not checked, modules missing: {skipped}")


def test_checks_are_named_rules_with_the_subject():
    X, _ = _data()
    checks = list(exporter_checks("skops", _logreg(), X, id="small"))
    assert [c.rule for c in checks] == RULES
    assert {c.subject for c in checks} == {"exporter 'skops' (small)"}


# -- broken exporters: each fails its rule ------------------------------------------------


def _only(rule: str, exporter, **kwargs) -> None:
    """Run one rule of the checks on ``exporter`` with the logistic regression."""
    X, _ = _data()
    (check,) = [c for c in exporter_checks(exporter, _logreg(), X, **kwargs) if c.rule == rule]
    check()


class _ShiftedRunner:
    """Adds ``shift`` to the probabilities (plus ``step`` more on each call)."""

    def __init__(self, inner, shift: float, step: float = 0.0) -> None:
        self.inner, self.shift, self.step, self.calls = inner, shift, step, 0

    def run(self, inputs):
        out = dict(self.inner.run(inputs))
        out["probabilities"] = out["probabilities"] + self.shift + self.step * self.calls
        self.calls += 1
        return out

    def close(self):
        self.inner.close()


class ShiftingPickleExporter(PickleExporter):
    """Its runner adds 1e-2 to every probability."""

    name = "shifting_pickle"
    formats = ()

    def load(self, path, manifest, trusted):
        return _ShiftedRunner(super().load(path, manifest, trusted), 1e-2)


def test_a_runner_adding_1e_2_to_the_probabilities_fails_parity():
    X, _ = _data()
    with pytest.raises(CheckFailure, match="check_export_load_parity") as e:
        check_exporter(ShiftingPickleExporter, _logreg(), X, trusted=True)
    message = str(e.value)
    assert "exporter 'shifting_pickle' breaks rule check_export_load_parity" in message
    assert "output 'probabilities': max abs diff 0.01" in message
    assert "Fix: make load() return a runner" in message
    assert e.value.rule == "check_export_load_parity"
    assert "shifting_pickle" not in plugins.names("exporter")  # registered only meanwhile


def test_a_class_shadowing_an_installed_name_is_checked_then_unshadowed():
    class ShiftedPickle(PickleExporter):
        def load(self, path, manifest, trusted):
            return _ShiftedRunner(super().load(path, manifest, trusted), 1e-2)

    assert ShiftedPickle.name == "pickle"
    with pytest.raises(CheckFailure, match="exporter 'pickle' breaks rule check_export_load"):
        _only("check_export_load_parity", ShiftedPickle, trusted=True)
    assert plugins.get("exporter", "pickle") is PickleExporter


def test_a_runner_drifting_from_call_to_call_is_unstable():
    class DriftingPickle(PickleExporter):
        name = "drifting_pickle"
        formats = ()

        def load(self, path, manifest, trusted):
            return _ShiftedRunner(super().load(path, manifest, trusted), 0.0, step=1e-3)

    with pytest.raises(CheckFailure, match="check_runner_stable.*two runs of the loaded "
                       "artifact on the same inputs differ.*'probabilities'"):
        _only("check_runner_stable", DriftingPickle, trusted=True)
    # the same runner also fails parity: its second call (the reference rows) drifts
    with pytest.raises(CheckFailure, match="check_export_load_parity.*reference outputs"):
        _only("check_export_load_parity", DriftingPickle, trusted=True)


class _ShapeCachingRunner:
    """Caches outputs by batch size: right for new sizes, wrong for reordered rows."""

    def __init__(self, inner) -> None:
        self.inner, self.cache = inner, {}

    def run(self, inputs):
        n = len(next(iter(inputs.values())))
        if n not in self.cache:
            self.cache[n] = self.inner.run(inputs)
        return self.cache[n]


def test_a_runner_whose_rows_depend_on_the_batch_is_unstable():
    class CachingSkops(SkopsExporter):
        name = "caching_skops"

        def load(self, path, manifest, trusted):
            return _ShapeCachingRunner(super().load(path, manifest, trusted))

    _only("check_export_load_parity", CachingSkops)  # parity on the sample alone holds
    with pytest.raises(CheckFailure, match="check_runner_stable.*reversing the order of the "
                       "sample's rows changes the rows' outputs"):
        _only("check_runner_stable", CachingSkops)


def test_an_export_writing_beside_the_artifact_is_caught():
    class LoggingSkops(SkopsExporter):
        name = "logging_skops"

        def export(self, model, path, sample, **options):
            (pathlib.Path(path).parent / "export.log").write_text("exported\n")
            return super().export(model, path, sample, **options)

    X, _ = _data()
    with pytest.raises(CheckFailure, match=r"check_artifact_self_contained: calipers.export "
                       r"wrote \['parent/export.log'\] outside the artifact directory "
                       r"'parent/artifact'"):
        check_exporter(LoggingSkops, _logreg(), X)  # every earlier rule holds


def test_a_load_writing_into_the_artifact_is_caught():
    class CachingLoadSkops(SkopsExporter):
        name = "cache_writing_skops"

        def load(self, path, manifest, trusted):
            (pathlib.Path(path) / "compiled.cache").write_bytes(b"\0")
            return super().load(path, manifest, trusted)

    with pytest.raises(CheckFailure, match=r"check_artifact_self_contained: loading and "
                       r"running the artifact changed its directory: added \['compiled.cache'\]"):
        _only("check_artifact_self_contained", CachingLoadSkops)


def test_a_manifest_without_libraries_or_model_type_is_incomplete():
    class BareSkops(SkopsExporter):
        name = "bare_skops"

        def export(self, model, path, sample, **options):
            fields = super().export(model, path, sample, **options)
            del fields["libraries"], fields["model_type"]
            return fields

    with pytest.raises(CheckFailure, match="check_manifest_complete: manifest.json: libraries "
                       r"is \{\}.*Fix: return 'libraries'"):
        _only("check_manifest_complete", BareSkops)


def test_outputs_declared_with_the_wrong_dtype_fail_parity():
    class MisdeclaredSkops(SkopsExporter):
        name = "misdeclared_skops"

        def export(self, model, path, sample, **options):
            fields = super().export(model, path, sample, **options)
            fields["outputs"] = [{"name": "label", "dtype": "int64", "shape": [None]},
                                 {"name": "probabilities", "dtype": "float32",
                                  "shape": [None, 2]}]
            return fields

    with pytest.raises(CheckFailure, match="output 'probabilities' is declared float32 but "
                       "the runner returned float64"):
        _only("check_export_load_parity", MisdeclaredSkops)


def test_a_tolerance_blind_to_labels_fails_drift_detection():
    class LabelBlindSkops(SkopsExporter):
        name = "label_blind_skops"
        tolerance = {**SkopsExporter.tolerance, "min_label_agreement": 0.0}

    with pytest.raises(CheckFailure, match="check_parity_detects_drift: calipers.verify passed "
                       "although every value of output 'label' was moved"):
        _only("check_parity_detects_drift", LabelBlindSkops)


def test_an_output_that_model_outputs_never_gives_is_never_compared():
    class HalfComparedSkops(SkopsExporter):
        name = "half_compared_skops"

        def export(self, model, path, sample, **options):
            fields = super().export(model, path, sample, **options)
            fields["outputs"] = [{"name": "label", "dtype": "int64", "shape": [None]},
                                 {"name": "probabilities", "dtype": "float64",
                                  "shape": [None, 2]}]
            return fields

        def model_outputs(self, model, inputs):
            return {"label": super().model_outputs(model, inputs)["label"]}

    with pytest.raises(CheckFailure, match="output 'probabilities' of the artifact is never "
                       r"compared: model_outputs returns only \['label'\]"):
        _only("check_parity_detects_drift", HalfComparedSkops)
    with pytest.raises(CheckFailure, match=r"reference outputs are named \['label'\]"):
        _only("check_manifest_complete", HalfComparedSkops)


def test_an_exporter_that_trips_over_a_non_model_is_caught():
    class SloppySkops(SkopsExporter):
        name = "sloppy_skops"

        def supports(self, model):
            return True

        def export(self, model, path, sample, **options):
            model.coef_  # noqa: B018 - the bug: assumes a linear model
            return super().export(model, path, sample, **options)

    with pytest.raises(CheckFailure, match="check_unsupported_model_refused: exporting an "
                       "unsupported _NotAModel object raised AttributeError"):
        _only("check_unsupported_model_refused", SloppySkops)


def test_classes_the_host_would_not_register_fail_the_class_check():
    class Nameless(SkopsExporter):
        name = ""

    class NoLoad(Exporter):
        name = "no_load"

        def export(self, model, path, sample, **options):
            return {}

    class TypoTolerance(SkopsExporter):
        name = "typo_tolerance"
        tolerance = {"rtoll": 1e-3}

    for cls, match in [(Nameless, "has name ''"),
                       (NoLoad, "does not implement load"),
                       (TypoTolerance, r"unknown key\(s\) \['rtoll'\]")]:
        with pytest.raises(CheckFailure, match=f"check_exporter_class: .*{match}"):
            _only("check_exporter_class", cls)
    # the other rules refuse to register such a class instead of going on
    with pytest.raises(CheckFailure, match="check_no_overwrite: the class cannot be registered"):
        _only("check_no_overwrite", Nameless)


def test_a_model_the_exporter_does_not_support_is_a_class_check_failure():
    X, _ = _data()
    (check, *_) = exporter_checks("skops", object(), X)
    with pytest.raises(CheckFailure, match="supports\\(model\\) is False .*builtins.object"):
        check()


# -- the checks fail when the host's guarantees break ------------------------------------


def test_tampering_check_fails_when_the_hashes_go_unchecked(monkeypatch):
    from calipers.export import _manifest

    monkeypatch.setattr(_manifest, "check_files", lambda root, manifest: None)
    # skops' load checks the sha256 of the bytes it reads once more: a changed byte is
    # still refused, a removed file is not
    with pytest.raises(CheckFailure, match="check_tampering_refused: after removing "
                       "'model.skops', calipers.load raised FileNotFoundError.* instead of "
                       "ArtifactError"):
        _only("check_tampering_refused", "skops")


def test_overwrite_check_fails_when_the_host_replaces_silently(monkeypatch):
    from calipers.export import _artifact

    monkeypatch.setattr(_artifact, "_check_target", lambda path, overwrite: path.exists())
    with pytest.raises(CheckFailure, match="check_no_overwrite: exporting onto an existing "
                       "artifact without overwrite=True succeeded"):
        _only("check_no_overwrite", "skops")


# -- how exporters and options are given --------------------------------------------------


def test_an_unregistered_correct_class_passes_and_is_not_left_registered():
    class CopyOfSkops(SkopsExporter):
        name = "copy_of_skops"

    X, _ = _data()
    before = plugins.names("exporter")
    check_exporter(CopyOfSkops, _logreg(), X)
    assert plugins.names("exporter") == before


def test_an_exporter_writing_many_files_in_subdirectories_passes():
    class ShardedSkops(SkopsExporter):
        """Also writes 30 shards (more than the tampering check changes one by one)."""

        name = "sharded_skops"

        def export(self, model, path, sample, **options):
            shards = pathlib.Path(path) / "shards" / "deeper"
            shards.mkdir(parents=True)
            for i in range(30):
                (shards / f"part-{i:02d}.bin").write_bytes(bytes([i]) * (i + 1))
            (pathlib.Path(path) / "a-empty.bin").write_bytes(b"")  # sorted first: changed
            return super().export(model, path, sample, **options)

    X, _ = _data()
    check_exporter(ShardedSkops, _logreg(), X)


def test_the_plugin_template_exporter_passes_before_it_is_installed(tmp_path, monkeypatch):
    from calipers.plugin_template import new_plugin

    root = new_plugin("calipers-kit-linear", "exporter", tmp_path)
    monkeypatch.syspath_prepend(str(root / "src"))
    module = importlib.import_module("calipers_kit_linear")
    try:
        X, _ = _data()
        model = module.LinearModel([1.5, -2.0, 0.25, 0.0, 1.0, -0.5], 0.5)
        check_exporter(module.KitLinear, model, X)
    finally:
        sys.modules.pop("calipers_kit_linear", None)


def test_a_format_name_selects_its_exporter():
    X, _ = _data()
    checks = list(exporter_checks("joblib", _logreg(), X, trusted=True))
    assert checks[0].subject == "exporter 'pickle'"
    for check in checks:
        check()


def test_bad_arguments_are_refused_at_once():
    X, _ = _data()
    with pytest.raises(ValueError, match="unknown exporter 'skopz'; did you mean 'skops'"):
        list(exporter_checks("skopz", _logreg(), X))
    with pytest.raises(TypeError, match="pass the class itself, not an instance"):
        list(exporter_checks(SkopsExporter(), _logreg(), X))
    with pytest.raises(ValueError, match=r"export_options must not hold \['overwrite'\]"):
        list(exporter_checks("skops", _logreg(), X, export_options={"overwrite": True}))
    with pytest.raises(TypeError, match="load_options .* do not fit calipers.load"):
        list(exporter_checks("skops", _logreg(), X, load_options={"mmap": True}))


def test_options_reach_export_and_load():
    X, _ = _data()
    _only("check_export_load_parity", "skops", export_options={"compression": "deflated"})
    with pytest.raises(CheckFailure, match="compression must be 'stored' or 'deflated'"):
        _only("check_export_load_parity", "skops", export_options={"compression": "zstd"})
    _only("check_export_load_parity", "pickle", load_options={"trusted": True})
    with pytest.raises(CheckFailure, match="calipers.load.*trusted=False.*is a pickle"):
        _only("check_export_load_parity", "pickle")
