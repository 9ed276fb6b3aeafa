"""The README's Ship section, run literally: its Python blocks export (and, with the onnx
extra, quantize) the model into ``artifacts/``, then its shell block serves that folder with
``calipers serve artifacts/`` in a subprocess, queries it (the curl lines) and reads the
monitor. Only the port is changed (a free one) and the feedback line's placeholder request
id is filled in."""

from __future__ import annotations

import http.client
import importlib.util
import json
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("skops")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")

import calipers  # noqa: E402
from calipers.serve import free_port  # noqa: E402

README = Path(__file__).resolve().parents[1] / "README.md"
PLACEHOLDER = "<X-Request-Id of a predict>"
ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime", "skl2onnx"))


def _ship_blocks() -> list[tuple[str, str]]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Ship\n"):]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S)


def _shell_commands(block: str) -> list[list[str]]:
    """The block's commands: continuation lines joined, comments dropped."""
    commands, current = [], ""
    for line in block.splitlines():
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        words = shlex.split(current + line, comments=True)
        current = ""
        if words:
            commands.append(words)
    return commands


class Curl:
    """The curl invocations of the block (``curl [-d DATA|@FILE] URL``) over http.client."""

    def __init__(self, cwd: Path, port: int) -> None:
        self.cwd, self.port = cwd, port
        self.request_id: str | None = None

    def __call__(self, args: list[str]) -> tuple[int, bytes]:
        body = None
        if args[0] == "-d":
            data, args = args[1], args[2:]
            body = (self.cwd / data[1:]).read_bytes() if data.startswith("@") else data.encode()
            if self.request_id is not None:
                body = body.replace(PLACEHOLDER.encode(), self.request_id.encode())
        (url,) = args
        host, _, path = url.partition("/")
        assert host == "localhost:8501", url
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            # curl -d posts as a form; the server takes the JSON body as it is
            conn.request("POST" if body is not None else "GET", "/" + path, body=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded"}
                         if body is not None else {})
            resp = conn.getresponse()
            data = resp.read()
            if path.endswith(":predict"):
                self.request_id = resp.getheader("X-Request-Id")
            return resp.status, data
        finally:
            conn.close()


def _wait_until_up(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/monitoring/prometheus/metrics")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)


def test_readme_ship_and_serve_runs_as_written(tmp_path):
    blocks = _ship_blocks()
    langs = [lang for lang, _ in blocks]
    assert langs[:3] == ["python", "bash", "python"], langs
    code = blocks[0][1] + ("\n" + blocks[2][1] if ONNX else "")  # export (+ quantize)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "parity on 143 rows: ok" in out.stdout
    assert (tmp_path / "artifacts" / "cancer" / "manifest.json").is_file()

    port = free_port()
    curl = Curl(tmp_path, port)
    log = tmp_path / "serve.log"
    commands = _shell_commands(blocks[1][1])
    assert {c[0] for c in commands} == {"calipers", "curl"}
    server, answers, monitor = None, [], None
    with open(log, "w") as log_file:
        try:
            for words in commands:
                words = [w.replace("8501", str(port)) if w == "8501" else w for w in words]
                if words[:2] == ["calipers", "serve"]:
                    assert words[-1] == "&"  # runs in the background, as the block says
                    server = subprocess.Popen(
                        [sys.executable, "-m", "calipers.cli.main", *words[1:-1]], cwd=tmp_path,
                        stdout=log_file, stderr=subprocess.STDOUT)
                    _wait_until_up(port, server, log)
                elif words[0] == "curl":
                    answers.append((words, *curl(words[1:])))
                else:
                    monitor = subprocess.run([sys.executable, "-m", "calipers.cli.main",
                                              *words[1:]], cwd=tmp_path, capture_output=True,
                                             text=True, timeout=120)
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=60)
    assert server is not None and monitor is not None
    for words, status, body in answers:
        assert status == 200, (words, body)
    by_path = {words[-1].split("/", 1)[1]: json.loads(body) if b"{" in body[:2] else body
               for words, _, body in answers}
    # the unversioned artifact folder is served as version 1 of model "cancer"
    assert by_path["v1/models/cancer"] == {"model_version_status": [
        {"version": "1", "state": "AVAILABLE",
         "status": {"error_code": "OK", "error_message": ""}}]}
    request = json.loads((tmp_path / "request.json").read_text())
    with calipers.load(tmp_path / "artifacts" / "cancer") as artifact:
        expected = artifact.predict(request["instances"]).tolist()
    predictions = by_path["v1/models/cancer:predict"]["predictions"]
    assert [p["label"] for p in predictions] == expected
    assert by_path["monitoring/feedback"] == {"accepted": 1}
    assert b"calipers_serve_requests" in by_path["monitoring/prometheus/metrics"]
    # serve said what it found, and why
    said = log.read_text()
    assert ("serving model 'cancer' version 1 (artifacts/cancer: unversioned artifact, "
            "served as version 1)") in said, said
    if ONNX:
        for name in ("cancer-onnx", "cancer-int8"):
            assert f"serving model '{name}' version 1 (artifacts/{name}: unversioned" in said
    assert monitor.returncode == 0, monitor.stderr
    assert "cancer version 1: 1 request(s) (200: 1), 1 example(s)" in monitor.stdout
    assert "live metrics (1 labelled)" in monitor.stdout
    # 569 rows are too few for a drift reference: no verdict rather than a false alarm
    assert "drift: no reference" in monitor.stdout and "DRIFT" not in monitor.stdout
