"""Helpers shared by the serve tests (imported by name: a conftest cannot be, since
every test folder has one)."""

from __future__ import annotations

import http.client
import json
import pathlib
import urllib.parse

import calipers
from calipers.export import version_dir


def make_base(root: pathlib.Path, cancer, diabetes) -> pathlib.Path:
    base = root / "models"
    model, X, _ = cancer
    calipers.export(model, "skops", version_dir(base, "cancer"), sample=X[:64])
    reg, Xr, _ = diabetes
    calipers.export(reg, "skops", version_dir(base, "diabetes"), sample=Xr[:64])
    return base


class Client:
    """A tiny HTTP client on one keep-alive connection (a TF Serving REST client's calls)."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
        try:
            self.conn.request(method, path, body=body, headers=headers or {})
            resp = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError, BrokenPipeError):
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            self.conn.request(method, path, body=body, headers=headers or {})
            resp = self.conn.getresponse()
        data = resp.read()
        if resp.getheader("connection", "").lower() == "close":
            self.conn.close()
        return resp.status, data, {k.lower(): v for k, v in resp.getheaders()}

    def get(self, path: str) -> tuple[int, bytes, dict[str, str]]:
        return self.request("GET", path)

    def post(self, path: str, doc) -> tuple[int, bytes, dict[str, str]]:
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        return self.request("POST", path, body, {"Content-Type": "application/json"})

    def close(self) -> None:
        self.conn.close()
