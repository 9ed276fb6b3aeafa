"""Serving throughput and latency: `calipers serve` vs the same ONNX model in-process.

Run::

    python benchmarks/bench_serve.py [--requests 2000] [--seconds 20] [--markdown]

Trains a StandardScaler + LogisticRegression pipeline on breast-cancer, exports it
to ONNX (and skops) under a temporary model base, then measures, one after the
other in this process:

- in-process latency of one call: scikit-learn ``predict_proba`` (native),
  ``onnxruntime.InferenceSession.run`` on the exported file, and
  ``calipers.load(...).run`` (the artifact the server runs);
- `calipers serve` started as a subprocess (its own interpreter, as in
  production) and driven over loopback by a load generator of C threads, each
  with one keep-alive connection, sending ``{"instances": ...}`` predict
  requests: requests/s and p50/p99 latency, with the prediction log on (the
  default) and off; the two servers alternate for ``--rounds`` rounds and the
  latencies of all rounds are pooled (a shared machine's busy spells hit both).

Each load run is bounded by a request count AND a time limit; every answer is
checked (status 200, one prediction per row). Rows, batch sizes and
concurrency are options; the table goes to stdout.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np


def quantiles(samples: list[float]) -> tuple[float, float]:
    arr = np.asarray(samples) * 1000.0
    return float(np.quantile(arr, 0.5)), float(np.quantile(arr, 0.99))


def in_process(fn, *, requests: int, seconds: float) -> dict:
    fn()  # warm up
    lat = []
    start = time.perf_counter()
    while len(lat) < requests and time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        fn()
        lat.append(time.perf_counter() - t0)
    wall = time.perf_counter() - start
    p50, p99 = quantiles(lat)
    return {"n": len(lat), "rps": len(lat) / wall, "p50": p50, "p99": p99}


def load(port: int, body: bytes, rows: int, *, concurrency: int, requests: int,
         seconds: float) -> dict:
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    sent = [0]
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            while time.perf_counter() < deadline:
                with lock:
                    if sent[0] >= requests:
                        return
                    sent[0] += 1
                t0 = time.perf_counter()
                conn.request("POST", "/v1/models/cancer:predict", body=body,
                             headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                elapsed = time.perf_counter() - t0
                ok = resp.status == 200 and len(json.loads(data)["predictions"]) == rows
                with lock:
                    (lat.append(elapsed) if ok else errors.append(f"{resp.status} {data[:80]}"))
        finally:
            conn.close()

    for _ in range(20):  # warm up the connection pool and the model
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request("POST", "/v1/models/cancer:predict", body=body)
        c.getresponse().read()
        c.close()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} failed request(s), first: {errors[0]}")
    p50, p99 = quantiles(lat)
    return {"n": len(lat), "rps": len(lat) / wall, "p50": p50, "p99": p99, "lat": lat,
            "wall": wall}


def start_server(base: pathlib.Path, port: int, extra: list[str]) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from calipers.cli.main import main; "
         "sys.exit(main())", "serve", str(base), "--port", str(port), "--log-level", "warning",
         "--poll-interval", "0", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/v1/models/cancer")
            if c.getresponse().status == 200:
                c.close()
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("calipers serve did not start")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="per run (bound)")
    parser.add_argument("--seconds", type=float, default=20.0, help="per run (bound)")
    parser.add_argument("--batches", default="1,32", help="rows per request")
    parser.add_argument("--concurrency", default="1,4", help="client threads")
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternate log on/off servers this many times; pooled")
    args = parser.parse_args(argv)

    import onnxruntime as ort
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import calipers
    from calipers.export import version_dir
    from calipers.serve import free_port

    X, y = load_breast_cancer(return_X_y=True)
    X = X.astype(np.float32)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-serve-"))
    base = tmp / "models"
    path = calipers.export(model, "onnx", version_dir(base, "cancer"), sample=X[:64])
    artifact = calipers.load(path)
    onnx_file = next(p for p in path.iterdir() if p.suffix == ".onnx")
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    rows_list = [int(b) for b in args.batches.split(",")]
    conc_list = [int(c) for c in args.concurrency.split(",")]
    table = []
    for rows in rows_list:
        batch = X[:rows]
        for label, fn in [
            ("scikit-learn predict_proba (native)", lambda b=batch: model.predict_proba(b)),
            ("onnxruntime session.run", lambda b=batch: session.run(None, {input_name: b})),
            ("calipers.load(...).run", lambda b=batch: artifact.run(b)),
        ]:
            r = in_process(fn, requests=args.requests * 5, seconds=args.seconds / 4)
            table.append((rows, label, 1, r))
    pooled: dict[tuple[int, str, int], list[dict]] = {}
    for _ in range(args.rounds):
        # alternate the two servers so that a busy spell of a shared machine hits both
        for log_on in (False, True):
            port = free_port()
            proc = start_server(base, port, [] if log_on else ["--no-log"])
            try:
                for rows in rows_list:
                    body = json.dumps({"instances": X[:rows].tolist()}).encode()
                    for conc in conc_list:
                        r = load(port, body, rows, concurrency=conc, requests=args.requests,
                                 seconds=args.seconds)
                        label = "calipers serve, " + ("prediction log on" if log_on
                                                      else "no log")
                        pooled.setdefault((rows, label, conc), []).append(r)
            finally:
                proc.terminate()
                proc.wait(timeout=60)
    for (rows, label, conc), runs in pooled.items():
        lat = [v for r in runs for v in r["lat"]]
        p50, p99 = quantiles(lat)
        table.append((rows, label, conc, {"n": len(lat), "rps": len(lat) / sum(
            r["wall"] for r in runs), "p50": p50, "p99": p99}))
    artifact.close()

    print(f"# {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, numpy {np.__version__}, "
          f"onnxruntime {ort.__version__}")
    print("| rows/request | implementation | clients | requests | req/s | p50 ms | p99 ms |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for rows, label, conc, r in sorted(table, key=lambda t: (t[0], t[1] != "onnxruntime "
                                                              "session.run", t[2])):
        print(f"| {rows} | {label} | {conc} | {r['n']} | {r['rps']:.0f} | {r['p50']:.3f} | "
              f"{r['p99']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
