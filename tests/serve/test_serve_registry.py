"""ModelRegistry: complete-only loading, failures, reloads, removal, polling (stand-in loader)."""

from __future__ import annotations

import os
import time

import pytest

from calipers.serve import ModelRegistry, ServeError


class Stub:
    def __init__(self, path):
        self.path = path
        self.manifest = {"inputs": [], "outputs": []}
        self.closed = False

    def close(self):
        self.closed = True


class Loader:
    def __init__(self):
        self.calls = []
        self.fail = set()

    def __call__(self, path, trusted=False):
        self.calls.append((path.parent.name, path.name))
        if path.name in self.fail:
            raise ValueError(f"broken {path.name}")
        return Stub(path)


def version(base, name, number, manifest=True):
    d = base / name / str(number)
    d.mkdir(parents=True)
    if manifest:
        (d / "manifest.json").write_text('{"manifest_version": 1}')
    return d


def test_only_complete_versions_of_valid_names(tmp_path):
    version(tmp_path, "m", 1)
    version(tmp_path, "m", 2, manifest=False)  # being written
    (tmp_path / "m" / ".3.tmp-x").mkdir()  # an export's temporary directory
    (tmp_path / "m" / ".3.tmp-x" / "manifest.json").write_text("{}")
    version(tmp_path, ".hidden", 1)
    version(tmp_path, "bad name", 1)
    version(tmp_path, "other", 4)
    os.symlink(tmp_path / "other", tmp_path / "link")
    loader = Loader()
    reg = ModelRegistry(tmp_path, loader=loader, poll_interval=0)
    reg.scan()
    assert reg.names() == ["m", "other"]
    assert sorted(loader.calls) == [("m", "1"), ("other", "4")]
    assert [v.version for v in reg.versions("m")] == [1]
    (tmp_path / "m" / "2" / "manifest.json").write_text('{"manifest_version": 1}')
    reg.scan()
    assert [v.version for v in reg.versions("m")] == [1, 2]
    assert reg.get("m").version == 2
    assert loader.calls.count(("m", "1")) == 1  # loaded once, kept


def test_failures_lookups_and_removal(tmp_path):
    version(tmp_path, "m", 1)
    version(tmp_path, "m", 2)
    loader = Loader()
    loader.fail = {"2"}
    reg = ModelRegistry(tmp_path, loader=loader, poll_interval=0)
    reg.scan()
    failed = reg.status("m", 2)[0]
    assert not failed.available and failed.error == "ValueError: broken 2"
    assert reg.get("m").version == 1  # the latest *loaded* version
    with pytest.raises(ServeError, match=r"Servable not found for request: Specific\(m, 2\)"):
        reg.get("m", 2)
    with pytest.raises(ServeError, match=r"Latest\(nope\)") as info:
        reg.get("nope")
    assert info.value.http_status == 404
    with pytest.raises(ServeError, match="Could not find any versions of model nope"):
        reg.status("nope")
    with pytest.raises(ServeError, match="Could not find version 9 of model m"):
        reg.status("m", 9)
    reg.scan()
    assert loader.calls.count(("m", "2")) == 1  # not retried while unchanged
    loader.fail = set()
    manifest = tmp_path / "m" / "2" / "manifest.json"
    manifest.write_text('{"manifest_version": 1, "changed": true}')
    reg.scan()
    assert reg.get("m", 2).available
    first = reg.get("m", 1).artifact
    for p in (tmp_path / "m" / "1").iterdir():
        p.unlink()
    (tmp_path / "m" / "1").rmdir()
    reg.scan()
    assert [v.version for v in reg.versions("m")] == [2]
    assert not first.closed  # requests that just got it may still be running
    reg.scan()
    assert first.closed
    second = reg.get("m", 2).artifact
    reg.stop()
    assert second.closed and reg.names() == []


def test_polling_picks_up_versions(tmp_path):
    version(tmp_path, "m", 1)
    reg = ModelRegistry(tmp_path, loader=Loader(), poll_interval=0.02)
    reg.start()
    try:
        version(tmp_path, "m", 7)
        deadline = time.monotonic() + 30
        while reg.get("m").version != 7 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert reg.get("m").version == 7
    finally:
        reg.stop()


def test_loopback_by_default_and_a_warning_otherwise(tmp_path):
    import inspect

    from calipers.serve import _server

    assert inspect.signature(_server.serve).parameters["host"].default == "127.0.0.1"
    assert all(_server._is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "127.0.0.2"))
    assert not any(_server._is_loopback(h) for h in ("0.0.0.0", "::", "10.1.2.3", "example"))
    app = _server.make_app(tmp_path, prediction_log=False)
    with pytest.warns(UserWarning, match="not only on loopback"):
        _server._config(app, "0.0.0.0", 8501)


def test_unversioned_artifact_is_version_1_and_discovery_is_logged(tmp_path, caplog):
    (tmp_path / "cancer").mkdir()  # what calipers.export(model, fmt, "artifacts/cancer") writes
    (tmp_path / "cancer" / "manifest.json").write_text('{"manifest_version": 1}')
    version(tmp_path, "m", 1)
    version(tmp_path, "m", 2, manifest=False)
    (tmp_path / "m" / "notes").mkdir()
    (tmp_path / "empty").mkdir()
    version(tmp_path, "bad name", 1)
    os.symlink(tmp_path / "m", tmp_path / "link")
    (tmp_path / "models.config").write_text("")
    version(tmp_path, ".calipers", 1)  # hidden: the prediction log's folder, exports' temps
    loader = Loader()
    loader.fail = {"cancer"}  # unversioned: the loader gets the artifact directory itself
    reg = ModelRegistry(tmp_path, loader=loader, poll_interval=0)
    with caplog.at_level("INFO", logger="calipers.serve"):
        reg.scan()
    assert reg.names() == ["cancer", "m"]
    failed = reg.status("cancer")[0]
    assert (failed.version, failed.path, failed.layout) == (1, tmp_path / "cancer", "unversioned")
    assert failed.error == "ValueError: broken cancer"
    lines = reg.discovery()
    c, m = tmp_path / "cancer", tmp_path / "m"
    assert lines == [
        f"not serving model 'cancer' version 1 ({c}: unversioned artifact, served as "
        "version 1): ValueError: broken cancer",
        f"serving model 'm' version 1 ({m / '1'})",
        f"skipped {tmp_path / 'bad name'}: not a valid model name (letters, digits, '_', '-' "
        "and '.', not first)",
        f"skipped {tmp_path / 'empty'}: no manifest.json in it and no <version>/manifest.json "
        "under it (not an artifact directory nor a model of versioned artifacts)",
        f"skipped {tmp_path / 'link'}: a symbolic link (not followed)",
        f"skipped {m / '2'}: incomplete: no manifest.json (an export still writing it, or "
        "not an artifact)",
        f"skipped {m / 'notes'}: not a version directory (versions are m/<integer>/)",
        f"skipped {tmp_path / 'models.config'}: a file, not a model directory",
    ]
    assert [r.getMessage() for r in caplog.records if r.name == "calipers.serve"
            and not r.getMessage().startswith("loaded")] == lines
    assert {r.levelname for r in caplog.records if "incomplete" in r.getMessage()} == {"WARNING"}
    caplog.clear()
    with caplog.at_level("INFO", logger="calipers.serve"):
        reg.scan()  # nothing changed: nothing logged
    assert caplog.records == []
    (m / "2" / "manifest.json").write_text('{"manifest_version": 1}')
    loader.fail = set()
    (c / "manifest.json").write_text('{"manifest_version": 1, "fixed": true}')
    with caplog.at_level("INFO", logger="calipers.serve"):
        reg.scan()
    messages = [r.getMessage() for r in caplog.records]
    assert (f"serving model 'cancer' version 1 ({c}: unversioned artifact, served as version 1)"
            in messages)
    assert f"serving model 'm' version 2 ({m / '2'})" in messages
    assert not any("incomplete" in line for line in messages)
    assert reg.get("cancer").available and reg.get("m").version == 2
    reg.stop()


def test_an_empty_base_says_what_it_expected(tmp_path):
    reg = ModelRegistry(tmp_path, loader=Loader(), poll_interval=0)
    reg.scan()
    assert reg.discovery() == [f"no models to serve under {tmp_path}: expected "
                               "<name>/<version>/manifest.json or <name>/manifest.json"]
    (tmp_path / "manifest.json").write_text("{}")  # serving an artifact directory itself
    reg.scan()
    assert (f"skipped {tmp_path}: the model base is itself an artifact directory; serve its "
            f"parent (calipers serve {tmp_path.parent}) to serve it as model "
            f"{tmp_path.name!r}") in reg.discovery()
