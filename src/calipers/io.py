"""Stream columns of CSV and Parquet files in batches of numpy arrays.

``calipers eval`` reads its input through :func:`iter_batches`, so files larger than
memory work: only the requested columns are converted, and only one batch of them is
held at a time. pyarrow and tqdm are imported inside the functions that use them, so
``import calipers`` stays light.

Supported files (the format comes from the suffix): ``.csv``, ``.tsv`` (optionally
compressed: ``.gz``, ``.bz2``, ``.zst``) and ``.parquet`` / ``.pq``.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "FileFormat",
    "column_dtypes",
    "detect_format",
    "iter_batches",
]

#: Rows per batch when the caller does not choose.
DEFAULT_BATCH_SIZE = 65_536

# CSV blocks: big enough for pyarrow's parallel parser and for type inference (which
# looks at the first block only), small enough that a few of them in flight stay cheap.
_MIN_BLOCK = 1 << 20
_MAX_BLOCK = 64 << 20

_COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}
_SUPPORTED = ".csv, .tsv (each optionally .gz, .bz2 or .zst), .parquet, .pq"


class FileFormat(NamedTuple):
    """How a file is read: ``kind`` is ``"csv"``, ``"tsv"`` or ``"parquet"``."""

    kind: str
    compression: str | None = None


def detect_format(path: str | os.PathLike[str]) -> FileFormat:
    """Return the format of ``path`` from its suffix.

    Parameters
    ----------
    path : str or path-like
        File name; only its suffixes are looked at (case-insensitive).

    Returns
    -------
    FileFormat
        ``kind`` (``"csv"``, ``"tsv"`` or ``"parquet"``) and ``compression``
        (``"gzip"``, ``"bz2"``, ``"zstd"`` or ``None``).

    Raises
    ------
    ValueError
        If the suffix is not one of the supported ones.
    """
    suffixes = [s.lower() for s in Path(path).suffixes]
    compression = None
    if suffixes and suffixes[-1] in _COMPRESSION:
        compression = _COMPRESSION[suffixes.pop()]
    last = suffixes[-1] if suffixes else ""
    if last in (".csv", ".tsv"):
        return FileFormat(last[1:], compression)
    if last in (".parquet", ".pq") and compression is None:
        return FileFormat("parquet")
    raise ValueError(
        f"cannot tell the format of {os.fspath(path)!r} from its suffix "
        f"{''.join(Path(path).suffixes) or '(none)'!r}; supported: {_SUPPORTED}"
    )


def column_dtypes(
    path: str | os.PathLike[str], columns: Sequence[str] | None = None
) -> dict[str, np.dtype]:
    """Return the numpy dtype that :func:`iter_batches` will give each column.

    For Parquet this reads the schema only. For CSV the types are inferred by pyarrow
    from the first block of the file (about a megabyte), exactly as the streaming reader
    will infer them; strings come back as ``object``.

    Parameters
    ----------
    path : str or path-like
        A supported file.
    columns : sequence of str, optional
        Columns to report; all columns when omitted.

    Returns
    -------
    dict of str to numpy.dtype
        In the order of ``columns`` (or of the file).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the format is not supported or a column is missing (the message names the
        columns that exist).
    """
    path = _check_path(path)
    fmt = detect_format(path)
    cols = None if columns is None else list(dict.fromkeys(columns))
    if fmt.kind == "parquet":
        schema = _parquet_file(path).schema_arrow
        if cols is not None:
            _check_columns(path, cols, schema.names)
        fields = [schema.field(c) for c in (schema.names if cols is None else cols)]
    else:
        with _open_csv(path, fmt, cols, block_size=_MIN_BLOCK) as (reader, _raw):
            fields = list(reader.schema)
    return {f.name: _numpy_dtype(f.type) for f in fields}


def iter_batches(
    path: str | os.PathLike[str],
    columns: Sequence[str],
    batch_size: int = DEFAULT_BATCH_SIZE,
    *,
    float_columns: Sequence[str] = (),
    progress: bool | None = None,
    desc: str | None = None,
) -> Iterator[dict[str, np.ndarray]]:
    """Yield the requested columns of a CSV or Parquet file, batch by batch.

    Only ``columns`` are converted, and only one batch is held in memory at a time, so
    the file may be larger than memory.

    Parameters
    ----------
    path : str or path-like
        A ``.csv``/``.tsv`` (optionally ``.gz``/``.bz2``/``.zst``) or
        ``.parquet``/``.pq`` file.
    columns : sequence of str
        Columns to read; duplicates are read once.
    batch_size : int, default 65536
        Maximum rows per yielded batch.
    float_columns : sequence of str, optional
        Columns to read as ``float64`` whatever their values look like (scores,
        weights: a CSV whose first block holds only ``0`` and ``1`` would otherwise be
        read as integers and fail later on ``0.5``).
    progress : bool or None, default None
        Show a tqdm progress bar on stderr: by bytes read for CSV, by rows for Parquet.
        ``None`` shows it only when stderr is a terminal, and only once reading has
        taken more than a second.
    desc : str, optional
        Label of the progress bar (default: the file name).

    Yields
    ------
    dict of str to numpy.ndarray
        One 1-D array per column (strings as ``object`` arrays, booleans as ``bool``),
        all of the same length, at most ``batch_size``. Arrays may be read-only.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the format is not supported, a column is missing (the message names the
        columns that exist), a value is missing (null, empty or NaN; the message gives
        the column and the 1-based row, header not counted) or a value cannot be parsed.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    path = _check_path(path)
    fmt = detect_format(path)
    cols = list(dict.fromkeys(columns))
    if not cols:
        raise ValueError("no columns to read")
    floats = [c for c in dict.fromkeys(float_columns) if c in cols]
    if fmt.kind == "parquet":
        yield from _iter_parquet(path, cols, batch_size, floats, progress, desc)
    else:
        yield from _iter_csv(path, fmt, cols, batch_size, floats, progress, desc)


# -- CSV ------------------------------------------------------------------------------


def _iter_csv(
    path: Path,
    fmt: FileFormat,
    cols: list[str],
    batch_size: int,
    floats: list[str],
    progress: bool | None,
    desc: str | None,
) -> Iterator[dict[str, np.ndarray]]:
    import pyarrow as pa

    block_size = _csv_block_size(path, fmt, batch_size)
    total = path.stat().st_size
    rows = 0
    with (
        _open_csv(path, fmt, cols, block_size, floats) as (reader, raw),
        _progress_bar(progress, total, "B", desc or path.name) as bar,
    ):
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid as exc:
                raise _csv_parse_error(path, exc, rows, fmt) from None
            for start in range(0, batch.num_rows, batch_size):
                piece = batch.slice(start, batch_size)
                yield _to_numpy(piece, rows)
                rows += piece.num_rows
            # The reader reads ahead, so the raw position runs slightly ahead of the
            # rows yielded; good enough for a progress bar.
            bar.update(min(raw.tell(), total) - bar.n)
        bar.update(total - bar.n)


class _open_csv:
    """Context manager: a pyarrow CSV streaming reader and the raw file under it."""

    def __init__(
        self,
        path: Path,
        fmt: FileFormat,
        cols: list[str] | None,
        block_size: int,
        floats: Sequence[str] = (),
    ) -> None:
        self.args = (path, fmt, cols, block_size, floats)
        self.raw: IO[bytes] | None = None

    def __enter__(self) -> tuple[Any, IO[bytes]]:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        path, fmt, cols, block_size, floats = self.args
        self.raw = raw = open(path, "rb")  # closed in __exit__
        try:
            stream: Any = raw
            if fmt.compression is not None:
                stream = pa.CompressedInputStream(raw, fmt.compression)
            convert = pacsv.ConvertOptions(
                include_columns=cols,
                column_types={c: pa.float64() for c in floats},
                # An empty label cell is a missing label, not the class "".
                strings_can_be_null=True,
            )
            parse = pacsv.ParseOptions(delimiter="\t" if fmt.kind == "tsv" else ",")
            read = pacsv.ReadOptions(block_size=block_size)
            try:
                reader = pacsv.open_csv(
                    stream, read_options=read, parse_options=parse, convert_options=convert
                )
            except KeyError:  # pa.ArrowKeyError: an include_columns name is not there
                names = _csv_column_names(path, fmt)
                _check_columns(path, cols or [], names)
                raise
            except pa.ArrowInvalid as exc:
                raise _csv_parse_error(path, exc, 0, fmt) from None
        except BaseException:
            raw.close()
            raise
        return reader, raw

    def __exit__(self, *exc_info: object) -> None:
        if self.raw is not None:
            self.raw.close()


def _csv_column_names(path: Path, fmt: FileFormat) -> list[str]:
    with _open_csv(path, fmt, None, _MIN_BLOCK) as (reader, _raw):
        return list(reader.schema.names)


def _csv_block_size(path: Path, fmt: FileFormat, batch_size: int) -> int:
    """Size CSV blocks to hold about ``batch_size`` rows, from the first rows' width."""
    sample = b""
    try:
        if fmt.compression is None:
            with open(path, "rb") as f:
                sample = f.read(1 << 16)
        else:
            import pyarrow as pa

            with open(path, "rb") as raw, pa.CompressedInputStream(raw, fmt.compression) as f:
                sample = f.read(1 << 16)
    except (OSError, ValueError):  # a corrupt file fails later, with pyarrow's message
        pass
    lines = sample.count(b"\n")
    width = len(sample) / lines if lines else 256.0
    return int(min(max(batch_size * width * 1.1, _MIN_BLOCK), _MAX_BLOCK))


def _csv_parse_error(
    path: Path, exc: Exception, rows_before: int, fmt: FileFormat | None = None
) -> ValueError:
    msg = str(exc).strip()
    hint = ""
    # pyarrow numbers columns by position in the file; name the column instead.
    match = re.match(r"In CSV column #(\d+): ", msg)
    if match and fmt is not None:
        try:
            name = _csv_column_names(path, fmt)[int(match.group(1))]
        except (ValueError, IndexError, OSError):
            pass
        else:
            msg = f"in column {name!r}: {msg[match.end() :]}"
    if "conversion error" in msg:
        hint = (
            " (column types are inferred from the first block of the file; a column whose"
            " later values do not fit that type, e.g. integers followed by text, cannot be"
            " streamed: convert the column or write the file as Parquet)"
        )
    where = f" after row {rows_before}" if rows_before else ""
    return ValueError(f"cannot parse {path}{where}: {msg}{hint}")


# -- Parquet --------------------------------------------------------------------------


def _parquet_file(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except pa.ArrowInvalid as exc:
        raise ValueError(f"cannot read {path} as Parquet: {exc}") from None


def _iter_parquet(
    path: Path,
    cols: list[str],
    batch_size: int,
    floats: list[str],
    progress: bool | None,
    desc: str | None,
) -> Iterator[dict[str, np.ndarray]]:
    import pyarrow as pa
    import pyarrow.compute as pc

    pf = _parquet_file(path)
    _check_columns(path, cols, pf.schema_arrow.names)
    total = pf.metadata.num_rows
    rows = 0
    with _progress_bar(progress, total, "rows", desc or path.name) as bar:
        for batch in pf.iter_batches(batch_size=batch_size, columns=cols):
            if floats:
                arrays = []
                for name, arr in zip(batch.schema.names, batch.columns, strict=True):
                    if name in floats and arr.type != pa.float64():
                        try:
                            arr = pc.cast(arr, pa.float64())
                        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                            raise ValueError(
                                f"column {name!r} of {path} must hold numbers, "
                                f"it has type {arr.type}: {exc}"
                            ) from None
                    arrays.append(arr)
                batch = pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)
            yield _to_numpy(batch, rows)
            rows += batch.num_rows
            bar.update(batch.num_rows)


# -- shared ---------------------------------------------------------------------------


def _check_path(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such file: {os.fspath(path)!r}")
    if p.is_dir():
        raise IsADirectoryError(f"{os.fspath(path)!r} is a directory, not a data file")
    return p


def _check_columns(path: Path, wanted: Sequence[str], names: Sequence[str]) -> None:
    missing = [c for c in wanted if c not in names]
    if missing:
        which = ", ".join(repr(c) for c in missing)
        plural = "s" if len(missing) > 1 else ""
        raise ValueError(
            f"column{plural} {which} not found in {path}; "
            f"the file has: {', '.join(repr(n) for n in names)}"
        )


def _numpy_dtype(t: pa.DataType) -> np.dtype:
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        t = t.value_type
    try:
        return np.dtype(t.to_pandas_dtype())
    except (NotImplementedError, TypeError):
        return np.dtype(object)


def _to_numpy(batch: pa.RecordBatch, rows_before: int) -> dict[str, np.ndarray]:
    """Convert a record batch to numpy, refusing missing values with their row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out: dict[str, np.ndarray] = {}
    for name, arr in zip(batch.schema.names, batch.columns, strict=True):
        if arr.null_count:
            first = int(np.argmax(pc.is_null(arr).to_numpy(zero_copy_only=False)))
            _missing(name, rows_before + first)
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        values = arr.to_numpy(zero_copy_only=False)
        if values.dtype.kind == "f":
            nan = np.isnan(values)
            if nan.any():
                _missing(name, rows_before + int(np.argmax(nan)))
        out[name] = values
    return out


def _missing(column: str, index: int) -> None:
    raise ValueError(
        f"column {column!r} has a missing value (empty, null or NaN) in row {index + 1} "
        "(rows counted from 1, header not counted); drop or fill missing values first"
    )


class _NoBar:
    n = 0

    def update(self, k: float) -> None:
        pass

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass


def _progress_bar(progress: bool | None, total: int, unit: str, desc: str) -> Any:
    auto = progress is None
    if auto:
        isatty = getattr(sys.stderr, "isatty", None)
        progress = bool(isatty and isatty())
    if not progress:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit=unit,
        unit_scale=True,
        unit_divisor=1024 if unit == "B" else 1000,
        desc=desc,
        file=sys.stderr,
        leave=False if auto else True,
        # Automatic bars only appear on reads long enough to need them.
        delay=1.0 if auto else 0.0,
        dynamic_ncols=True,
    )
