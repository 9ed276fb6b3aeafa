"""The plugin host: discovery through real entry points, validation, registries.

Plugins here are real: fake ``*.dist-info`` directories (committed under
``tests/fixtures/plugins/`` or written to ``tmp_path``) put on ``sys.path``, found by
``importlib.metadata`` exactly like installed packages.
"""

from __future__ import annotations

import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pluggy
import pytest

import calipers
from calipers import plugins
from calipers._registry import InvalidContribution, validate_result
from calipers.backends import Backend, NumpyBackend, backend_for
from calipers.errors import PluginConflictError
from calipers.metrics import Metric

FIXTURES = Path(__file__).parent / "fixtures" / "plugins"


# Every test starts and ends with plugins unloaded and the env switch unset.
pytestmark = pytest.mark.usefixtures("fresh_host")


@pytest.fixture
def on_path(monkeypatch):
    """Put directories of fake distributions on ``sys.path``; undo it afterwards,
    including the modules imported from them."""
    dirs: list[str] = []

    def add(directory: Path) -> None:
        dirs.append(str(directory))
        monkeypatch.syspath_prepend(str(directory))
        plugins.reload()

    yield add
    for name, module in list(sys.modules.items()):
        if any(str(getattr(module, "__file__", None) or "").startswith(d) for d in dirs):
            del sys.modules[name]


def make_dist(
    root: Path,
    dist: str,
    modules: dict[str, str],
    eps: dict[str, str] | None = None,
    version: str = "1.0",
    requires: tuple[str, ...] = (),
) -> Path:
    """Write an installed-distribution look-alike: ``<dist>-<version>.dist-info`` with
    METADATA (one ``Requires-Dist`` line per ``requires``) and entry_points.txt (group
    ``calipers``), plus its modules."""
    root.mkdir(parents=True, exist_ok=True)
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    lines = "".join(f"Requires-Dist: {r}\n" for r in requires)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n{lines}"
    )
    if eps is None:
        eps = {dist: next(iter(modules))}
    lines = "".join(f"{name} = {target}\n" for name, target in eps.items())
    (info / "entry_points.txt").write_text("[calipers]\n" + lines)
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    return root


def metric_source(*metric_names: str, hook: str = "register_metric", extra: str = "") -> str:
    """Source of a plugin module providing one counting metric per name."""
    classes = "".join(
        f"""
class Count{i}(Metric):
    name = {name!r}

    def __init__(self):
        super().__init__()
        self.n = 0

    def update(self, y_true, y_pred, sample_weight=None):
        self.n += len(y_true)

    def compute(self):
        return self.n

    def reset(self):
        self.n = 0

    def _merge_state(self, other):
        self.n += other.n

    def state_dict(self):
        return {{"n": self.n}}

    def load_state_dict(self, state):
        self.n = state["n"]
"""
        for i, name in enumerate(metric_names)
    )
    listed = ", ".join(f"Count{i}" for i in range(len(metric_names)))
    return (
        "import calipers\nfrom calipers.metrics import Metric\n"
        + extra
        + classes
        + f"\n@calipers.hookimpl\ndef {hook}():\n    return [{listed}]\n"
    )


def info(name: str) -> plugins.PluginInfo:
    found = [p for p in plugins.list_plugins(all=True) if p.name == name]
    assert len(found) == 1, [p.name for p in plugins.list_plugins(all=True)]
    return found[0]


# -- entry points: the committed fake dist-info (one good, one failing import) ----------


def test_good_plugin_ok_broken_plugin_reported_host_still_works(on_path):
    on_path(FIXTURES / "good_and_broken")

    good, broken = info("fakegood"), info("fakebroken")
    assert (good.status, good.dist, good.version, good.builtin) == (
        "ok",
        "calipers-fakegood",
        "1.0",
        False,
    )
    assert good.provides == {
        "metric": ["fake_accuracy"],
        "searcher": ["fake_random"],
        "exporter": ["fake_json"],
        "backend": ["fakearray"],
    }
    assert broken.status == "broken"
    assert broken.provides == {}
    assert "RuntimeError: calipers_fakebroken cannot start: boom" in broken.reason
    assert "calipers_fakebroken.py:3" in broken.reason  # where it failed

    metric = plugins.get("metric", "fake_accuracy")()
    metric.update([1, 0, 1], [1, 1, 1])
    assert metric.compute() == pytest.approx(2 / 3)
    # the host's own plugins are unaffected
    assert plugins.get("backend", "numpy") is NumpyBackend
    assert {"numpy", "fakearray"} <= set(plugins.names("backend"))
    # only loaded, valid plugins are registered with pluggy
    pm = plugins.get_manager()
    assert pm.get_plugin("fakegood") is sys.modules["calipers_fakegood"]
    assert pm.get_plugin("fakebroken") is None


def test_external_plugins_listed_builtin_ones_only_with_all(on_path):
    on_path(FIXTURES / "good_and_broken")
    assert [p.name for p in plugins.list_plugins()] == ["fakebroken", "fakegood"]
    everything = plugins.list_plugins(all=True)
    builtin = {p.name for p in everything if p.builtin}
    assert {"calipers.metrics", "calipers.backends", "torch"} <= builtin
    assert all(p.dist == "calipers" for p in everything if p.builtin)


def test_unknown_name_error_lists_names_close_matches_and_failed_plugins(on_path):
    on_path(FIXTURES / "good_and_broken")
    with pytest.raises(ValueError) as excinfo:
        plugins.get("metric", "fake_acuracy")
    message = str(excinfo.value)
    assert "unknown metric 'fake_acuracy'" in message
    assert "did you mean 'fake_accuracy'" in message
    assert "fakebroken" in message and "calipers plugins --all" in message
    with pytest.raises(ValueError, match="unknown plugin kind 'metrics'.*'metric'"):
        plugins.names("metrics")


def test_list_plugins_returns_copies(on_path):
    on_path(FIXTURES / "good_and_broken")
    first = info("fakegood")
    first.provides["metric"].append("tampered")
    first.status = "broken"
    assert info("fakegood").provides["metric"] == ["fake_accuracy"]
    assert info("fakegood").status == "ok"


# -- one test per hook, each with a real plugin providing it (see test_hookspecs) -------


def test_hook_register_metric(on_path):
    on_path(FIXTURES / "good_and_broken")
    cls = plugins.get("metric", "fake_accuracy")
    assert issubclass(cls, Metric) and cls.name == "fake_accuracy"
    a, b, whole = cls(), cls(), cls()
    a.update([1, 2], [1, 0])
    b.update([3, 3, 3], [3, 3, 0])
    whole.update([1, 2, 3, 3, 3], [1, 0, 3, 3, 0])
    assert a.merge(b).compute() == whole.compute() == pytest.approx(3 / 5)
    assert "fake_accuracy" in plugins.names("metric")


def test_hook_register_searcher(on_path):
    on_path(FIXTURES / "good_and_broken")
    cls = plugins.get("searcher", "fake_random")
    space = {"depth": [1, 2, 3, 4], "loss": ["l1", "l2"]}

    def run(seed):
        searcher = cls(space, seed=seed)
        asked = []
        for _ in range(8):
            params = searcher.ask()
            searcher.tell(params, float(params["depth"]))
            asked.append(params)
        return asked, searcher.best

    first, best = run(7)
    assert run(7)[0] == first  # seedable
    assert all(p["depth"] in space["depth"] and p["loss"] in space["loss"] for p in first)
    assert best[0] == min(p["depth"] for p in first)


def test_hook_register_exporter(on_path, tmp_path):
    on_path(FIXTURES / "good_and_broken")
    exporter = plugins.get("exporter", "fake_json")()
    model = {"w": 0.5, "b": -1.0}
    artifact = exporter.export(model, tmp_path / "artifact", sample=None)
    assert (artifact / "manifest.json").is_file()
    assert exporter.verify(artifact, model, None) == {"ok": True, "max_abs_diff": 0.0}
    assert exporter.verify(artifact, {"w": 0.75, "b": -1.0}, None)["ok"] is False


def test_hook_register_backend(on_path):
    on_path(FIXTURES / "good_and_broken")
    backend = plugins.get("backend", "fakearray")
    fake = sys.modules["calipers_fakegood"]  # imported by the lookup above
    assert backend is fake.FakeArrayBackend
    value = fake.FakeArray([1.0, 2.5])
    assert backend_for(value) is fake.FakeArrayBackend
    np.testing.assert_array_equal(backend_for(value).to_numpy(value), [1.0, 2.5])
    # numpy input still goes to numpy; built-ins come first in registration order
    assert backend_for(np.zeros(2)) is NumpyBackend
    assert plugins.classes("backend")[0] is NumpyBackend


# -- conflicts ---------------------------------------------------------------------------


def test_two_plugins_same_metric_name_conflict_names_both(on_path, tmp_path):
    make_dist(tmp_path, "calipers-alpha", {"calipers_alpha": metric_source("shared", "alpha_only")})
    make_dist(tmp_path, "calipers-beta", {"calipers_beta": metric_source("shared")}, version="2.0")
    on_path(tmp_path)

    with pytest.raises(PluginConflictError) as excinfo:
        plugins.get("metric", "shared")
    message = str(excinfo.value)
    assert "metric 'shared'" in message
    assert "calipers-alpha (from calipers-alpha 1.0)" in message
    assert "calipers-beta (from calipers-beta 2.0)" in message
    # nothing was silently chosen; the other names still work
    assert "shared" in plugins.names("metric")
    assert plugins.get("metric", "alpha_only")().compute() == 0
    assert info("calipers-alpha").status == info("calipers-beta").status == "conflict"
    assert "also provided by 'calipers-beta" in info("calipers-alpha").reason


def test_plugin_reusing_a_builtin_name_conflicts_with_the_builtin(on_path, tmp_path):
    source = """
        import calipers
        from calipers.backends import NumpyBackend

        class MyNumpy(NumpyBackend):
            name = "numpy"

        @calipers.hookimpl
        def register_backend():
            return [MyNumpy]
    """
    make_dist(tmp_path, "calipers-shadow", {"calipers_shadow": source})
    on_path(tmp_path)
    with pytest.raises(PluginConflictError, match=r"backend 'numpy'.*calipers\.backends"):
        plugins.get("backend", "numpy")
    assert backend_for([1, 2]) is NumpyBackend  # the fallback is still the real one


# -- optional dependencies and the env switch -------------------------------------------


def test_missing_extra_is_unavailable_with_pip_command(on_path, tmp_path):
    make_dist(
        tmp_path,
        "calipers-needs-extra",
        {
            "calipers_needs_extra": metric_source(
                "needs_extra",
                extra='__calipers_requires__ = {"calipers_no_such_module": "gpu"}\n',
            )
        },
    )
    make_dist(
        tmp_path,
        "calipers-raises-extra",
        {
            "calipers_raises_extra": """
                from calipers.errors import MissingExtraError
                raise MissingExtraError("onnxruntime", "onnx", feature="the onnx exporter")
            """
        },
    )
    make_dist(
        tmp_path,
        "calipers-own-extra",
        {
            "calipers_own_extra": metric_source(
                "own_extra",
                extra='__calipers_requires__ = {"calipers_no_such_module": "ownpkg[fast]"}\n',
            )
        },
    )
    on_path(tmp_path)

    needs = info("calipers-needs-extra")
    assert needs.status == "unavailable" and needs.provides == {}
    assert needs.reason == (
        "requires calipers_no_such_module, not installed: pip install 'calipers[gpu]'"
    )
    raises = info("calipers-raises-extra")
    assert raises.status == "unavailable"
    assert "the onnx exporter requires onnxruntime: pip install 'calipers[onnx]'" in raises.reason
    assert "pip install 'ownpkg[fast]'" in info("calipers-own-extra").reason
    with pytest.raises(ValueError, match="unknown metric 'needs_extra'"):
        plugins.get("metric", "needs_extra")


def test_requirements_are_checked_without_importing_them(on_path, tmp_path):
    make_dist(
        tmp_path,
        "calipers-lazy",
        {
            "calipers_lazy": metric_source(
                "lazy", extra='__calipers_requires__ = {"calipers_heavy_dep": "heavy"}\n'
            ),
            "calipers_heavy_dep": "raise AssertionError('the host imported a requirement')\n",
        },
    )
    on_path(tmp_path)
    assert info("calipers-lazy").status == "ok"
    assert "calipers_heavy_dep" not in sys.modules


def test_torch_plugin_unavailable_without_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # find_spec("torch") is now None
    plugins.reload()
    torch_plugin = info("torch")
    assert torch_plugin.builtin and torch_plugin.dist == "calipers"
    assert torch_plugin.status == "unavailable"
    assert "pip install 'calipers[torch]'" in torch_plugin.reason
    assert "torch" not in plugins.names("backend")
    assert backend_for(np.arange(3)) is NumpyBackend


# -- the calipers version a plugin's distribution requires ---------------------------------

NOT_IMPORTED = "raise AssertionError('the host imported an incompatible plugin')\n"


def test_plugin_requiring_a_newer_calipers_is_incompatible_and_not_imported(
    on_path, tmp_path, monkeypatch
):
    monkeypatch.setattr(calipers, "__version__", "0.1.0")
    make_dist(tmp_path, "calipers-future", {"calipers_future": NOT_IMPORTED},
              requires=("numpy>=1.26", "calipers>=0.2"))
    on_path(tmp_path)
    future = info("calipers-future")
    assert (future.status, future.provides) == ("incompatible", {})
    assert future.reason == (
        "needs calipers>=0.2 (from its requirement 'calipers>=0.2'), this is calipers "
        "0.1.0: pip install -U calipers"
    )
    assert "calipers_future" not in sys.modules
    assert plugins.get_manager().get_plugin("future") is None
    # its incompatibility is what a failed lookup points at
    with pytest.raises(ValueError) as raised:
        plugins.get("metric", "future_metric")
    assert ("Some plugins need another calipers version (calipers-future; this is calipers "
            "0.1.0)") in str(raised.value)
    assert "incompatible" in plugins.STATUSES


def test_plugin_requiring_an_older_calipers_says_what_to_install(on_path, tmp_path, monkeypatch):
    monkeypatch.setattr(calipers, "__version__", "1.2.0")
    make_dist(tmp_path, "calipers-past", {"calipers_past": NOT_IMPORTED},
              requires=("Calipers (>=0.1, <1.0)",))
    on_path(tmp_path)
    past = info("calipers-past")
    assert past.status == "incompatible"
    assert past.reason == (
        "needs calipers>=0.1,<1.0 (from its requirement 'Calipers (>=0.1, <1.0)'), this is "
        "calipers 1.2.0: pip install 'calipers>=0.1,<1.0', or a release of calipers-past "
        "that supports calipers 1.2.0"
    )


@pytest.mark.parametrize(
    "requires",
    [
        (),
        ("calipers>=0.1",),
        ("calipers>=0.1,<1",),
        ("calipers~=0.1.0",),
        ("calipers==0.1.*",),
        ("calipers[torch]>=0.1",),
        ("calipers>=99; extra == 'dev'",),  # an extra's requirement does not apply at load
        ("calipers>=99; python_version < '3'",),  # nor one whose marker is false
        ("calipers-core>=99", "calipers_extras>=99"),  # other distributions
        ("calipers",),
    ],
)
def test_plugin_whose_calipers_requirement_is_met_loads(on_path, tmp_path, monkeypatch,
                                                        requires):
    monkeypatch.setattr(calipers, "__version__", "0.1.0")
    make_dist(tmp_path, "calipers-fits", {"calipers_fits": metric_source("fits")},
              requires=requires)
    on_path(tmp_path)
    assert info("calipers-fits").status == "ok"
    assert plugins.get("metric", "fits").__module__ == "calipers_fits"


def test_canonical_names_and_development_builds_count(on_path, tmp_path, monkeypatch):
    monkeypatch.setattr(calipers, "__version__", "0.2.0.dev3")
    make_dist(tmp_path, "calipers-a", {"calipers_a": metric_source("a")},
              requires=("Calipers>=0.1",))
    make_dist(tmp_path, "calipers-b", {"calipers_b": NOT_IMPORTED},
              requires=("CALIPERS>=0.2",))  # 0.2.0.dev3 comes before 0.2
    on_path(tmp_path)
    assert info("calipers-a").status == "ok"
    assert info("calipers-b").status == "incompatible"
    assert "this is calipers 0.2.0.dev3: pip install -U calipers" in info("calipers-b").reason


def test_first_party_plugins_skip_the_version_check(monkeypatch):
    monkeypatch.setattr(calipers, "__version__", "0.0.1")
    plugins.reload()
    first_party = [p for p in plugins.list_plugins(all=True) if p.builtin]
    assert {p.name for p in first_party} >= {"torch", "onnx", "calipers.metrics"}
    assert all(p.status != "incompatible" for p in first_party)


@pytest.mark.parametrize(
    ("requires", "version", "failing"),
    [
        (">=0.2", "0.1.0", True),
        (">=0.2", "0.2", False),
        (">0.2", "0.2.0", True),
        ("<1.0,>=0.1", "1.0", True),
        ("<1.0,>=0.1", "0.9.9", False),
        ("<=0.1", "0.1.0", False),
        ("!=0.1.0", "0.1", True),
        ("==0.1.*", "0.1.7", False),
        ("==0.1.*", "0.2.0", True),
        ("!=0.1.*", "0.1.7", True),
        ("~=0.1.2", "0.1.9", False),
        ("~=0.1.2", "0.2.0", True),
        ("~=0.1.2", "0.1.1", True),
        ("~=1.2", "1.9", False),
        ("~=1.2", "2.0", True),
        ("==1", "1.0.0", False),
        ("", "0.1.0", False),
    ],
)
def test_version_check_without_packaging_agrees_with_packaging(requires, version, failing):
    from packaging.specifiers import SpecifierSet

    from calipers import _requirement

    assert (not SpecifierSet(requires).contains(version, prereleases=True)) is failing
    assert bool(_requirement._failing_fallback(requires, version)) is failing
    assert _requirement._parse_fallback(f"calipers {requires}") == ("calipers", requires, True)


def test_requirement_fallback_parses_the_metadata_forms(monkeypatch):
    from calipers import _requirement

    parse = _requirement._parse_fallback
    assert parse("calipers[a,b] (>=0.2, <1)") == ("calipers", ">=0.2,<1", True)
    assert parse("calipers>=0.2; extra == 'dev'") == ("calipers", ">=0.2", False)
    assert parse("calipers @ https://example.org/c.whl") is None
    assert parse("calipers>=0.2 garbage") is None
    # with packaging gone, the same requirement list gives the same verdict
    monkeypatch.setitem(sys.modules, "packaging.requirements", None)
    monkeypatch.setitem(sys.modules, "packaging.specifiers", None)
    monkeypatch.setitem(sys.modules, "packaging.version", None)
    unmet = _requirement.unmet_requirement(
        ["numpy", "calipers>=99; extra == 'x'", "calipers (>=0.2)"], "calipers", "0.1.0"
    )
    assert unmet == _requirement.Unmet("calipers (>=0.2)", ">=0.2", "0.1.0", too_old=True)
    assert _requirement.unmet_requirement(["calipers<1"], "calipers", "0.1.0") is None


@pytest.mark.parametrize("value", ["1", "true", "YES", "on"])
def test_disable_env_hides_external_plugins(on_path, monkeypatch, value):
    monkeypatch.setenv(plugins.DISABLE_ENV, value)
    on_path(FIXTURES / "good_and_broken")

    listed = {p.name for p in plugins.list_plugins(all=True)}
    assert not listed & {"fakegood", "fakebroken"}
    assert {"calipers.backends", "torch"} <= listed  # first party is kept
    assert plugins.list_plugins() == []
    assert sorted(plugins.disabled_plugins()) == ["fakebroken", "fakegood"]
    with pytest.raises(ValueError, match="CALIPERS_DISABLE_PLUGINS"):
        plugins.get("metric", "fake_accuracy")


def test_disable_env_zero_keeps_plugins(on_path, monkeypatch):
    monkeypatch.setenv(plugins.DISABLE_ENV, "0")
    on_path(FIXTURES / "good_and_broken")
    assert info("fakegood").status == "ok"
    assert plugins.disabled_plugins() == []


# -- invalid plugins are broken, with the reason; the rest works ------------------------

INVALID_PLUGINS = {
    "instance": (
        metric_source("x").replace("return [Count0]", "return [Count0()]"),
        "not a class; return the metric class itself, not an instance",
    ),
    "single_class": (
        metric_source("x").replace("return [Count0]", "return Count0"),
        "must return an iterable of classes, got class calipers_bad.Count0",
    ),
    "missing_method": (
        metric_source("x").replace("def compute(self):", "def kompute(self):"),
        "is abstract: implement compute",
    ),
    "no_name": (
        metric_source("x").replace("name = 'x'", "name = ''"),
        "has name ''; set the class attribute `name`",
    ),
    "duplicate_in_plugin": (metric_source("x", "x"), "returned two metrics named 'x'"),
    "hook_raises": (
        metric_source("x").replace("return [Count0]", "raise KeyError('no config')"),
        "register_metric raised: KeyError: 'no config' (at calipers_bad.py:",
    ),
    "typo_hook": (
        metric_source("x", hook="register_metrics"),
        "unknown hook(s) register_metrics",
    ),
    "bad_requires": (
        metric_source("x", extra="__calipers_requires__ = ['torch']\n"),
        "__calipers_requires__ must be a dict",
    ),
    "uses_host_at_import": (
        metric_source("x", extra="import calipers.plugins\ncalipers.plugins.names('metric')\n"),
        "used while plugins are being loaded",
    ),
    "wrapper": (
        "import calipers\n\n@calipers.hookimpl(wrapper=True)\n"
        "def register_metric():\n    return (yield)\n",
        "must be a plain hookimpl, not a wrapper",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID_PLUGINS))
def test_invalid_plugin_is_broken_with_reason_rest_works(on_path, tmp_path, case):
    source, expected = INVALID_PLUGINS[case]
    make_dist(tmp_path, "calipers-bad", {"calipers_bad": source})
    make_dist(tmp_path, "calipers-fine", {"calipers_fine": metric_source("fine")})
    on_path(tmp_path)

    bad = info("calipers-bad")
    assert bad.status == "broken", bad
    assert expected in bad.reason
    assert bad.provides == {}
    assert plugins.get("metric", "fine")().compute() == 0
    assert plugins.get_manager().get_plugin("calipers-bad") is None


def test_broken_hook_drops_the_plugins_other_contributions(on_path, tmp_path):
    source = metric_source("half") + textwrap.dedent(
        """
        @calipers.hookimpl
        def register_backend():
            raise RuntimeError("backend hook fails")
        """
    )
    make_dist(tmp_path, "calipers-half", {"calipers_half": source})
    on_path(tmp_path)
    assert info("calipers-half").status == "broken"
    assert "half" not in plugins.names("metric")  # all or nothing per plugin


def test_optional_unknown_hook_is_allowed(on_path, tmp_path):
    source = metric_source("future") + textwrap.dedent(
        """
        @calipers.hookimpl(optionalhook=True)
        def register_something_from_calipers_2():
            return []
        """
    )
    make_dist(tmp_path, "calipers-future", {"calipers_future": source})
    on_path(tmp_path)
    assert info("calipers-future").status == "ok"
    assert "future" in plugins.names("metric")


def test_plugin_providing_nothing_is_ok_with_a_hint(on_path, tmp_path):
    make_dist(tmp_path, "calipers-empty", {"calipers_empty": "def register_metric():\n    pass\n"})
    on_path(tmp_path)
    empty = info("calipers-empty")
    assert empty.status == "ok" and empty.provides == {}
    assert "@calipers.hookimpl" in empty.reason


class _Complete(Backend):
    name = "complete"

    @classmethod
    def accepts(cls, x):
        return False

    @classmethod
    def to_numpy(cls, x):
        return np.asarray(x)


@pytest.mark.parametrize(
    ("kind", "result", "expected"),
    [
        ("backend", [_Complete], [("complete", _Complete)]),
        ("backend", None, []),
        ("backend", (c for c in [_Complete, _Complete]), [("complete", _Complete)]),
        ("backend", "numpy", "must return an iterable of classes"),
        ("backend", 3, "must return an iterable of classes, got 3"),
        ("backend", [Backend], "has name ''"),
        (
            "backend",
            [type("Half", (Backend,), {"name": "half"})],
            "is abstract: implement accepts, to_numpy",
        ),
        ("searcher", [_Complete], "lacks callable ask, tell"),
        ("exporter", [type("E", (), {"name": " e", "export": 1, "verify": 1})], "has name ' e'"),
    ],
)
def test_validate_result(kind, result, expected):
    if isinstance(expected, str):
        with pytest.raises(InvalidContribution, match=expected.replace("(", r"\(")):
            validate_result(kind, result)
    else:
        assert validate_result(kind, result) == expected


# -- the manager --------------------------------------------------------------------------


def test_get_manager_is_a_calipers_plugin_manager():
    pm = plugins.get_manager()
    assert isinstance(pm, pluggy.PluginManager)
    assert pm.project_name == "calipers"
    assert pm.get_plugin("calipers.backends") is sys.modules["calipers.backends"]
    results = [cls for batch in pm.hook.register_backend() for cls in batch]
    assert NumpyBackend in results
    assert plugins.get_manager() is pm  # created once


def test_first_use_is_thread_safe(monkeypatch):
    calls = []
    real_load = plugins.load

    def slow_load():
        calls.append(threading.get_ident())
        time.sleep(0.05)
        return real_load()

    monkeypatch.setattr(plugins, "load", slow_load)
    plugins.reload()
    with ThreadPoolExecutor(8) as pool:
        managers = list(pool.map(lambda _: plugins.get_manager(), range(8)))
    assert len(calls) == 1
    assert all(pm is managers[0] for pm in managers)


def test_reload_discovers_a_plugin_installed_later(tmp_path, on_path):
    on_path(tmp_path)  # empty directory on the path, plugins loaded once
    assert "later" not in plugins.names("metric")
    make_dist(tmp_path, "calipers-later", {"calipers_later": metric_source("later")})
    plugins.reload()
    assert plugins.get("metric", "later").name == "later"


# -- the first-party torch plugin's backend -----------------------------------------------


def test_torch_backend_accepts_tensors_not_numpy():
    torch = pytest.importorskip("torch")
    torch_backend = plugins.get("backend", "torch")
    assert torch_backend.name == "torch" and issubclass(torch_backend, Backend)
    assert torch_backend.accepts(torch.zeros(3))
    assert torch_backend.accepts(torch.nn.Parameter(torch.ones(2)))
    assert not torch_backend.accepts(np.zeros(3))
    assert not torch_backend.accepts([1.0, 2.0])
    assert not torch_backend.accepts(torch.float32)  # torch objects that are not tensors
    assert not torch_backend.accepts(torch.Size([2]))
    assert backend_for(torch.zeros(3)) is torch_backend
    assert backend_for(np.zeros(3)) is NumpyBackend


def test_torch_to_numpy_of_cpu_tensor_shares_memory():
    torch = pytest.importorskip("torch")
    torch_backend = plugins.get("backend", "torch")
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    a = torch_backend.to_numpy(t)
    assert a.ctypes.data == t.data_ptr()
    t[0, 0] = 42.0
    assert a[0, 0] == 42.0
    transposed = torch_backend.to_numpy(t.T)  # strided view: still no copy
    assert np.shares_memory(transposed, a)
    np.testing.assert_array_equal(transposed, t.T.numpy())
    param = torch.nn.Parameter(torch.ones(3))  # requires grad: detached, still shared
    assert torch_backend.to_numpy(param).ctypes.data == param.data_ptr()


def test_torch_to_numpy_resolves_lazy_bits_and_widens_dtypes():
    torch = pytest.importorskip("torch")
    torch_backend = plugins.get("backend", "torch")
    z = torch.tensor([1 + 2j, 3 - 4j])
    assert z.conj().is_conj() and z.conj().imag.is_neg()
    np.testing.assert_array_equal(torch_backend.to_numpy(z.conj()), [1 - 2j, 3 + 4j])
    np.testing.assert_array_equal(torch_backend.to_numpy(z.conj().imag), [-2.0, 4.0])
    half = torch_backend.to_numpy(torch.tensor([0.5, 1.5], dtype=torch.bfloat16))
    assert half.dtype == np.float32
    np.testing.assert_array_equal(half, [0.5, 1.5])
    sparse = torch.tensor([[0.0, 2.0], [3.0, 0.0]]).to_sparse()
    np.testing.assert_array_equal(torch_backend.to_numpy(sparse), [[0.0, 2.0], [3.0, 0.0]])


def test_torch_to_numpy_copies_cuda_tensors_to_host():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    torch_backend = plugins.get("backend", "torch")
    t = torch.arange(4, device="cuda")
    a = torch_backend.to_numpy(t)
    assert isinstance(a, np.ndarray)
    np.testing.assert_array_equal(a, [0, 1, 2, 3])


def test_api_only_plugin_is_reported_as_complete():
    """A plugin that ships an API and no registry entries (calipers_sklearn) says so,
    instead of the 'provides nothing' hint meant for misdecorated hooks."""
    pytest.importorskip("sklearn")
    info = {p.name: p for p in plugins.list_plugins(all=True)}["sklearn"]
    assert info.status == "ok"
    assert info.reason.startswith("API only: calipers_sklearn.SearchCV")
    assert "provides nothing" not in info.reason


def test_registered_puts_a_class_under_its_name_for_the_block_only():
    class Scoped(Metric):
        name = "scoped_count"

        def __init__(self):
            super().__init__()
            self.add_state("n", 0, merge="sum")

        def update(self, y_true, y_pred, sample_weight=None):
            self.n += len(y_true)

        def compute(self):
            return self.n

    class ShadowNumpy(NumpyBackend):
        name = "numpy"

    metrics_before = plugins.names("metric")
    with plugins.registered("metric", Scoped) as cls:
        assert cls is Scoped
        assert plugins.get("metric", "scoped_count") is Scoped
        assert plugins.names("metric") == sorted([*metrics_before, "scoped_count"])
        assert plugins.classes("metric")[-1] is Scoped
        seen = []  # process-wide: other threads see the class too
        thread = threading.Thread(target=lambda: seen.append(plugins.get("metric",
                                                                         "scoped_count")))
        thread.start()
        thread.join()
        assert seen == [Scoped]
    assert plugins.names("metric") == metrics_before
    with pytest.raises(ValueError, match="unknown metric 'scoped_count'"):
        plugins.get("metric", "scoped_count")

    # an installed class of that name is replaced inside the block only, exceptions too
    with pytest.raises(KeyError, match="inside"), plugins.registered("backend", ShadowNumpy):
        assert plugins.get("backend", "numpy") is ShadowNumpy
        assert NumpyBackend not in plugins.classes("backend")
        raise KeyError("inside")
    assert plugins.get("backend", "numpy") is NumpyBackend
    assert NumpyBackend in plugins.classes("backend")

    # a class already registered under its name: the registry is left as it is
    with plugins.registered("backend", NumpyBackend):
        assert plugins.get("backend", "numpy") is NumpyBackend
    assert plugins.get("backend", "numpy") is NumpyBackend

    # nested blocks unwind in order
    with plugins.registered("backend", ShadowNumpy), plugins.registered("metric", Scoped):
        assert plugins.get("backend", "numpy") is ShadowNumpy
        assert plugins.get("metric", "scoped_count") is Scoped
    assert plugins.get("backend", "numpy") is NumpyBackend
    assert "scoped_count" not in plugins.names("metric")

    # reload() inside the block wins: the freshly loaded registry is kept on exit
    with plugins.registered("metric", Scoped):
        plugins.reload()
        assert "scoped_count" not in plugins.names("metric")
        reloaded = plugins.get_manager()
    assert plugins.get_manager() is reloaded
    assert "scoped_count" not in plugins.names("metric")

    # what the host would refuse is refused with its reason; nothing changes
    class Nameless(Metric):
        def update(self, y_true, y_pred, sample_weight=None):
            pass

        def compute(self):
            return 0

    with pytest.raises(TypeError, match="name"), plugins.registered("metric", Nameless):
        pytest.fail("the block must not run")
    with pytest.raises(ValueError, match="unknown plugin kind 'metrics'"), \
            plugins.registered("metrics", Scoped):
        pytest.fail("the block must not run")
    assert plugins.names("metric") == metrics_before
