"""Errors with TensorFlow Serving's status codes and their HTTP mapping."""

from __future__ import annotations

#: gRPC status code -> HTTP status, as TensorFlow Serving's HTTP server maps them.
HTTP_STATUS: dict[str, int] = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}

#: Longest error message sent (or logged); longer ones are cut, saying how much was cut.
MAX_MESSAGE_CHARS = 1000


class ServeError(Exception):
    """A request failed with a gRPC-style ``code``; :attr:`http_status` follows it.

    Parameters
    ----------
    code : str
        A key of :data:`HTTP_STATUS` (``"INVALID_ARGUMENT"``, ``"NOT_FOUND"``, ...).
    message : str
        The message sent to the client as ``{"error": message}``.
    http_status : int, optional
        Overrides the status derived from ``code`` (413 for oversized bodies).

    Notes
    -----
    Messages often quote the request, so the message is made safe whatever
    went into it: cut to :data:`MAX_MESSAGE_CHARS` characters, and lone
    surrogates (from ``\\ud800`` escapes in a client's JSON) written as
    ``\\ud800`` so that it can be encoded as UTF-8 and logged.
    """

    def __init__(self, code: str, message: str, http_status: int | None = None) -> None:
        if code not in HTTP_STATUS:
            raise ValueError(f"unknown status code {code!r}")
        message = bounded_message(message)
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = HTTP_STATUS[code] if http_status is None else http_status


def bounded_message(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``message`` cut to ``limit`` characters, with lone surrogates escaped.

    Parameters
    ----------
    message : str
        Any text, possibly quoting a client's request.
    limit : int, default :data:`MAX_MESSAGE_CHARS`
        The most characters kept (a note of how many were cut follows them).
    """
    if len(message) > limit:
        message = f"{message[:limit]}... ({len(message) - limit} more characters)"
    try:
        message.encode("utf-8")
    except UnicodeEncodeError:
        message = message.encode("utf-8", "backslashreplace").decode("utf-8")
    return message


def invalid(message: str) -> ServeError:
    """An ``INVALID_ARGUMENT`` error (HTTP 400)."""
    return ServeError("INVALID_ARGUMENT", message)


def not_found(message: str) -> ServeError:
    """A ``NOT_FOUND`` error (HTTP 404)."""
    return ServeError("NOT_FOUND", message)
