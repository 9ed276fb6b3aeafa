"""``models.config``: TF Serving's model_config_list text proto, kept atomic and intact."""

from __future__ import annotations

import threading

import pytest
from calipers_tfserving._config import (
    CONFIG_NAME,
    Raw,
    add_model_config,
    format_text_proto,
    parse_text_proto,
    read_models_config,
)

HAND_WRITTEN = """# written by hand
model_config_list {
  config {
    name: 'resnet'
    base_path: "/models/resnet"
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 1 versions: [2, 3] } }
    version_labels { key: 'stable' value: 1 }
  }
}
"""


def test_parse_and_format_round_trip():
    fields = parse_text_proto(HAND_WRITTEN)
    (name, configs), = fields
    assert name == "model_config_list"
    config = configs[0][1]
    assert config[:3] == [("name", "resnet"), ("base_path", "/models/resnet"),
                          ("model_platform", "tensorflow")]
    policy = dict(config)["model_version_policy"]
    assert policy == [("specific", [("versions", Raw("1")), ("versions", Raw("2")),
                                    ("versions", Raw("3"))])]
    text = format_text_proto(fields)
    assert parse_text_proto(text) == fields
    assert 'version_labels {\n      key: "stable"\n      value: 1\n    }' in text
    assert parse_text_proto('a: "x\\"y" b < c: 1 >') == [("a", 'x"y'), ("b", [("c", "1")])]
    for bad in ("a {", "a: }", "}", "a: [1, 2", '"x"'):
        with pytest.raises(ValueError):
            parse_text_proto(bad)


def test_add_keeps_hand_written_entries_and_updates_base_path(tmp_path):
    (tmp_path / CONFIG_NAME).write_text(HAND_WRITTEN)
    add_model_config(tmp_path, "iris")
    add_model_config(tmp_path, "iris")  # already there: unchanged
    entries = read_models_config(tmp_path)
    assert entries == [
        {"name": "resnet", "base_path": "/models/resnet", "model_platform": "tensorflow"},
        {"name": "iris", "base_path": str((tmp_path / "iris").resolve()),
         "model_platform": "tensorflow"},
    ]
    add_model_config(tmp_path, "resnet", base_path="/srv/resnet")
    text = (tmp_path / CONFIG_NAME).read_text()
    assert 'base_path: "/srv/resnet"' in text and "versions: 3" in text
    assert 'key: "stable"' in text
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    with pytest.raises(ValueError, match="invalid model name"):
        add_model_config(tmp_path, "../escape")


def test_a_file_that_is_not_a_model_config_list_is_not_rewritten(tmp_path):
    (tmp_path / CONFIG_NAME).write_text("something_else { a: 1 }\n")
    with pytest.raises(ValueError, match="expected a model_config_list"):
        add_model_config(tmp_path, "m")
    assert (tmp_path / CONFIG_NAME).read_text() == "something_else { a: 1 }\n"
    assert read_models_config(tmp_path / "missing") == []


def test_concurrent_adds_lose_no_entry(tmp_path):
    names = [f"m{i}" for i in range(24)]
    errors = []

    def add(name):
        try:
            add_model_config(tmp_path, name)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(e["name"] for e in read_models_config(tmp_path)) == sorted(names)
