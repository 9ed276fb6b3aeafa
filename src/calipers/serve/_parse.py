"""Reading a request body as JSON, and quoting it back in error messages.

A server answers anyone who reaches its port, so every step here is linear in
the body's size, uses memory bounded by it, and turns a client's mistake into
an ``INVALID_ARGUMENT`` (HTTP 400), never an exception that becomes a 500:

- JSON is UTF-8 (RFC 8259, section 8.1). A body is decoded strictly as UTF-8
  before parsing (``json.loads`` on bytes would guess UTF-16 or UTF-32 and
  read them); invalid UTF-8 (encoded surrogates included), UTF-16, UTF-32, and
  strings holding an unpaired ``\\uD800``-``\\uDFFF`` escape are refused. A
  leading UTF-8 byte order mark is ignored, as RFC 8259 allows.
- Nesting deeper than :data:`MAX_DEPTH` is refused by a vectorized scan of
  the bytes before the parser recurses; everything after the parser (error
  messages, numpy, the model) then sees shallow documents only.
- :func:`show` quotes a client's value in an error message in time and space
  bounded by its ``limit``, however large or deep the value is.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from calipers.serve._errors import invalid

#: Deepest nesting of arrays and objects accepted in a request body. A tensor
#: has at most 64 dimensions (numpy's limit); the request object, the
#: ``instances`` list and a named-input or ``{"b64": ...}`` object add three.
MAX_DEPTH = 100

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_32_BOMS = ((b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe\x00\x00", "UTF-32"),
                  (b"\xfe\xff", "UTF-16"), (b"\xff\xfe", "UTF-16"))
_SCAN_CHUNK = 1 << 20  # bytes per step of the depth scan: bounds its temporaries
_STEP = np.zeros(256, dtype=np.int8)  # +1 for an opening bracket, -1 for a closing one
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1
_QUOTE = ord('"')
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # \ud800 to \udfff, paired or not


def load_json(body: bytes) -> Any:
    """Parse a request body (any JSON value) with TF Serving's ``JSON Parse error`` messages.

    Raises
    ------
    ServeError
        INVALID_ARGUMENT for an empty body, a body that is not UTF-8, nesting
        deeper than :data:`MAX_DEPTH`, or invalid JSON.
    """
    if not body:
        raise invalid("JSON Parse error: The document is empty")
    text = _decode_utf8(body)
    if _too_deep(body, MAX_DEPTH):
        raise invalid(f"JSON Parse error: arrays and objects nested deeper than {MAX_DEPTH} "
                      "levels (a tensor has at most 64 dimensions)")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise invalid(f"JSON Parse error: {exc.msg} at offset: {exc.pos}") from None
    except ValueError:  # int() refuses numbers with more digits than its limit
        raise invalid(f"JSON Parse error: a number has more than {_max_int_digits()} digits "
                      "(send large values as floats)") from None
    except RecursionError:  # unreachable after the depth scan; kept as a last guard
        raise invalid("JSON Parse error: the document is nested too deeply") from None
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(doc):
        raise invalid("JSON Parse error: a string holds a lone surrogate (a \\uD800-\\uDFFF "
                      "escape without its pair); strings must be valid Unicode")
    return doc


def _has_lone_surrogate(doc: Any) -> bool:
    """Whether a string (key or value) of ``doc`` holds an unpaired surrogate code point."""
    try:
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _decode_utf8(body: bytes) -> str:
    """The body as text, or INVALID_ARGUMENT naming the encoding problem."""
    for bom, name in _UTF16_32_BOMS:
        if body.startswith(bom):
            raise invalid(f"JSON Parse error: the body starts with a {name} byte order mark; "
                          "send JSON encoded as UTF-8 (RFC 8259)")
    nul = body.find(b"\x00")
    if nul >= 0:  # never in UTF-8 JSON (a NUL in a string must be written \u0000)
        raise invalid(f"JSON Parse error: a NUL byte at offset: {nul} (UTF-16 or UTF-32?); "
                      "send JSON encoded as UTF-8 (RFC 8259)")
    start = len(_UTF8_BOM) if body.startswith(_UTF8_BOM) else 0
    try:
        return str(memoryview(body)[start:], "utf-8")  # strict: refuses lone surrogates
    except UnicodeDecodeError as exc:
        offset = start + exc.start
        raise invalid(f"JSON Parse error: Invalid encoding in string. at offset: {offset} "
                      f"(byte 0x{body[offset]:02x}: {exc.reason}); send JSON encoded as "
                      "UTF-8 (RFC 8259)") from None


def _too_deep(body: bytes, limit: int) -> bool:
    """Whether arrays/objects outside strings nest deeper than ``limit`` (linear, vectorized).

    Escapes go first (``\\\\`` pairs, then ``\\"``), so that every remaining
    quote opens or closes a string; a bracket is structural when an even
    number of quotes precede it. Garbage gives some answer and then fails
    to parse anyway.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    data = np.frombuffer(body, dtype=np.uint8)
    depth, parity = 0, 0  # parity: of the quotes before this chunk (1: inside a string)
    for start in range(0, data.size, _SCAN_CHUNK):
        chunk = data[start:start + _SCAN_CHUNK]
        quotes = np.cumsum(chunk == _QUOTE, dtype=np.int32)
        outside = ((quotes + parity) & 1) == 0
        running = np.cumsum(_STEP[chunk] * outside, dtype=np.int32)
        if depth + int(running.max()) > limit:
            return True
        depth += int(running[-1])
        parity = (parity + int(quotes[-1])) & 1
    return False


def _max_int_digits() -> int:
    get = getattr(sys, "get_int_max_str_digits", None)
    return get() if get is not None else 4300


_END = object()


def show(value: Any, limit: int = 200) -> str:
    """``value`` as JSON for an error message, cut after ``limit`` characters (``...``).

    Iterative and lazy: it stops after ``limit`` characters, so its time and
    memory do not depend on the size or depth of ``value``. Non-ASCII and
    lone surrogates are escaped, so the message can be encoded and logged.
    """
    parts: list[str] = []
    size = 0
    stack: list[tuple[Iterator[Any], bool]] = []  # open containers: (children, is_object)
    first = True  # no ", " before the next child of the innermost container
    item, pending = value, True
    while size <= limit:
        if pending:
            pending = False
            if isinstance(item, dict):
                text, first = "{", True
                stack.append((iter(item.items()), True))
            elif isinstance(item, (list, tuple)):
                text, first = "[", True
                stack.append((iter(item), False))
            else:
                text = _scalar(item, limit)
        elif not stack:
            break
        else:
            children, is_object = stack[-1]
            child = next(children, _END)
            if child is _END:
                stack.pop()
                text, first = ("}" if is_object else "]"), False
            else:
                text, first = ("" if first else ", "), False
                if is_object:
                    key, item = child
                    text += _scalar(str(key), limit) + ": "
                else:
                    item = child
                pending = True
        parts.append(text)
        size += len(text)
    text = "".join(parts)
    return text if len(text) <= limit else text[:limit] + "..."


def _scalar(value: Any, limit: int) -> str:
    if isinstance(value, str):
        return json.dumps(value[:limit + 1])
    if value is None or isinstance(value, (bool, int, float)):
        try:
            return json.dumps(value)
        except ValueError:  # an int beyond int()'s digit limit
            return "<a number of many digits>"
    return json.dumps(str(value)[:limit + 1])
