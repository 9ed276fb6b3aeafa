"""``<base>/models.config``: TF Serving's ``model_config_list`` in protobuf text format.

TensorFlow Serving reads it with ``--model_config_file=<base>/models.config``::

    model_config_list {
      config {
        name: "iris"
        base_path: "/srv/models/iris"
        model_platform: "tensorflow"
      }
    }

:func:`add_model_config` adds (or keeps) one model's entry; the file is rewritten
atomically (a temporary file renamed over it) under an exclusive lock, so two
exports at once do not lose an entry, and entries or fields written by hand
(``model_version_policy``, ``version_labels``...) are kept as they were. The small
text-format reader here handles what TF Serving's config files hold: fields with
scalar values, nested messages (``{...}`` or ``<...>``) and ``#`` comments.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import tempfile
from collections.abc import Iterator
from typing import Any

from calipers.export import check_model_name

CONFIG_NAME = "models.config"
_LOCK_NAME = ".models.config.lock"

#: A message: its fields in order, as (name, value); a value is a scalar token
#: (str for quoted strings, or the raw token text for numbers and enums, kept as
#: ``Raw``) or a nested message (a list).
Message = list[tuple[str, Any]]

_TOKEN = re.compile(
    r"""\s+|\#[^\n]*|(?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')"""
    r"""|(?P<punct>[{}<>:;,\[\]])|(?P<word>[^\s{}<>:;,\[\]"'#]+)"""
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}


class Raw(str):
    """An unquoted scalar (number, enum, true/false): written back without quotes."""


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def _tokens(text: str, where: str) -> list[tuple[str, str]]:
    """(kind, text) tokens: ``s`` strings (unquoted), ``p`` punctuation, ``w`` words."""
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"{where}: cannot parse text at offset {pos}: {text[pos:pos + 20]!r}")
        pos = m.end()
        if m.group("str") is not None:
            out.append(("s", _unquote(m.group("str"))))
        elif m.group("punct") is not None:
            out.append(("p", m.group("punct")))
        elif m.group("word") is not None:
            out.append(("w", m.group("word")))
    return out


def parse_text_proto(text: str, where: str = CONFIG_NAME) -> Message:
    """Parse protobuf text format into a :data:`Message` (fields in file order).

    Raises
    ------
    ValueError
        On a syntax error, naming ``where`` and the offset.
    """
    tokens = _tokens(text, where)
    pos = 0

    def message(close: str | None) -> Message:
        nonlocal pos
        fields: Message = []
        while True:
            if pos >= len(tokens):
                if close is None:
                    return fields
                raise ValueError(f"{where}: missing {close!r} at the end")
            kind, value = tokens[pos]
            if kind == "p" and value in "};>":
                if value in ";,":
                    pos += 1
                    continue
                if value != close:
                    raise ValueError(f"{where}: unexpected {value!r}")
                pos += 1
                return fields
            if kind == "p" and value == ",":
                pos += 1
                continue
            if kind != "w":
                raise ValueError(f"{where}: expected a field name, got {value!r}")
            name = value
            pos += 1
            if pos < len(tokens) and tokens[pos] == ("p", ":"):
                pos += 1
            if pos >= len(tokens):
                raise ValueError(f"{where}: field {name!r} has no value")
            kind, value = tokens[pos]
            if kind == "p" and value in "{<":
                pos += 1
                fields.append((name, message("}" if value == "{" else ">")))
            elif kind == "s":
                pos += 1
                while pos < len(tokens) and tokens[pos][0] == "s":  # adjacent strings concatenate
                    value += tokens[pos][1]
                    pos += 1
                fields.append((name, value))
            elif kind == "w":
                pos += 1
                fields.append((name, Raw(value)))
            elif kind == "p" and value == "[":  # a repeated field's short form
                pos += 1
                while pos < len(tokens) and tokens[pos] != ("p", "]"):
                    kind, value = tokens[pos]
                    pos += 1
                    if kind == "s":
                        fields.append((name, value))
                    elif kind == "w":
                        fields.append((name, Raw(value)))
                    elif value == "{":
                        fields.append((name, message("}")))
                    elif value != ",":
                        raise ValueError(f"{where}: unexpected {value!r} in list {name!r}")
                if pos >= len(tokens):
                    raise ValueError(f"{where}: missing ']' in list {name!r}")
                pos += 1
            else:
                raise ValueError(f"{where}: field {name!r} has no value (got {value!r})")

    return message(None)


def _quote(text: str) -> str:
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               .replace("\t", "\\t").replace("\r", "\\r"))
    return f'"{escaped}"'


def format_text_proto(fields: Message, indent: int = 0) -> str:
    """Write a :data:`Message` in protobuf text format (two-space indents)."""
    pad = "  " * indent
    lines = []
    for name, value in fields:
        if isinstance(value, list):
            lines.append(f"{pad}{name} {{")
            inner = format_text_proto(value, indent + 1)
            if inner:
                lines.append(inner.rstrip("\n"))
            lines.append(f"{pad}}}")
        elif isinstance(value, Raw):
            lines.append(f"{pad}{name}: {value}")
        else:
            lines.append(f"{pad}{name}: {_quote(str(value))}")
    return "\n".join(lines) + ("\n" if lines else "")


def read_models_config(base: str | os.PathLike) -> list[dict[str, Any]]:
    """The entries of ``<base>/models.config``: ``[{"name", "base_path", "model_platform"}]``.

    Returns an empty list when the file does not exist.

    Raises
    ------
    ValueError
        If the file is not a ``model_config_list`` in text format.
    """
    fields = _read(pathlib.Path(base) / CONFIG_NAME)
    return [{k: str(v) for k, v in config if not isinstance(v, list)}
            for config in _configs(fields)]


def _read(path: pathlib.Path) -> Message:
    if not path.exists():
        return []
    fields = parse_text_proto(path.read_text(encoding="utf-8"), str(path))
    names = {name for name, _ in fields}
    if names - {"model_config_list"}:
        raise ValueError(f"{path}: expected a model_config_list, found fields "
                         f"{sorted(names)}; refusing to rewrite it")
    return fields


def _configs(fields: Message) -> Iterator[Message]:
    for name, value in fields:
        if name == "model_config_list" and isinstance(value, list):
            for key, config in value:
                if key == "config" and isinstance(config, list):
                    yield config


@contextlib.contextmanager
def _locked(base: pathlib.Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; the rename is still atomic
        yield
        return
    with open(base / _LOCK_NAME, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _write_atomic(path: pathlib.Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def add_model_config(
    base: str | os.PathLike,
    name: str,
    *,
    base_path: str | None = None,
    platform: str = "tensorflow",
) -> pathlib.Path:
    """Add model ``name`` to ``<base>/models.config`` (created if missing); return its path.

    An existing entry for ``name`` keeps its other fields; its ``base_path`` is
    updated when one is given. Other entries are kept as they are.

    Parameters
    ----------
    base : str or os.PathLike
        The model base directory.
    name : str
        The model's name.
    base_path : str, optional
        Where TF Serving finds the model's versions; by default the absolute
        path of ``<base>/<name>``.
    platform : str, default "tensorflow"
        The ``model_platform``.
    """
    check_model_name(name)
    base = pathlib.Path(base)
    base.mkdir(parents=True, exist_ok=True)
    path = base / CONFIG_NAME
    with _locked(base):
        fields = _read(path)
        if not any(n == "model_config_list" for n, _ in fields):
            fields.append(("model_config_list", []))
        configs = list(_configs(fields))
        entry = next((c for c in configs if ("name", name) in
                      [(k, str(v)) for k, v in c if not isinstance(v, list)]), None)
        if entry is None:
            entry = [("name", name),
                     ("base_path", base_path or str((base / name).resolve())),
                     ("model_platform", platform)]
            target = next(v for n, v in fields if n == "model_config_list")
            target.append(("config", entry))
        elif base_path is not None:
            entry[:] = [(k, base_path if k == "base_path" else v) for k, v in entry]
            if not any(k == "base_path" for k, _ in entry):
                entry.insert(1, ("base_path", base_path))
        _write_atomic(path, format_text_proto(fields))
    return path
