"""Serving throughput and latency: `calipers serve` vs a minimal FastAPI + onnxruntime app.

Run::

    python benchmarks/bench_serve.py [--requests 300] [--rounds 10] [--markdown]
                                     [--variant "--inference-threads 4" ...]

Trains a HistGradientBoostingClassifier on breast-cancer (30 float32 features),
exports it to ONNX under a temporary model base (on the same disk as ``/tmp``,
so the prediction log is a real file), then:

- times one in-process call of ``onnxruntime.InferenceSession.run`` on the
  exported file and of ``calipers.load(...).run`` (the artifact the server runs);
- starts three servers as subprocesses (their own interpreters, as in
  production): ``calipers serve BASE`` with its defaults (prediction log on),
  ``calipers serve BASE --no-log``, and the ten-line FastAPI + onnxruntime app in
  :data:`FASTAPI_APP` (skipped with a message when FastAPI is not installed:
  ``pip install 'calipers[bench]'``);
- drives each over loopback with a load generator of C client threads, each
  with one keep-alive connection, sending ``{"instances": rows}`` predict
  requests and checking every answer (status 200, one prediction per row).

For each configuration (rows x clients) the servers take turns within every
round (the order rotates from round to round) so that a busy spell of a shared
machine hits all of them; each turn sends ``--warmup`` requests first, then
``--requests`` measured ones (3,000 per cell by default). Printed: req/s
(measured requests / summed wall time) and p50 / p99 latency in ms, over all
rounds pooled and as the median of the rounds' own figures, and the server
process's CPU time per request (user + system, all its threads, warm-up included;
Linux only), which a loaded machine disturbs far less than latency.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

#: The reference server: what a user would write by hand (FastAPI's own JSON
#: parsing and response encoding, onnxruntime's default session options). It
#: answers the same JSON as ``calipers serve`` (label and probabilities per row).
FASTAPI_APP = '''\
import sys
import numpy as np, onnxruntime as ort, uvicorn
from fastapi import FastAPI, Request

session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
name = session.get_inputs()[0].name
app = FastAPI()

@app.post("/v1/models/cancer:predict")
async def predict(request: Request):
    x = np.asarray((await request.json())["instances"], dtype=np.float32)
    label, proba = session.run(None, {name: x})
    return {"predictions": [{"label": l, "probabilities": p}
                            for l, p in zip(label.tolist(), proba.tolist())]}

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning",
            access_log=False)
'''


def quantiles(samples: list[float]) -> tuple[float, float]:
    arr = np.asarray(samples) * 1000.0
    return float(np.quantile(arr, 0.5)), float(np.quantile(arr, 0.99))


def in_process(fn, *, requests: int, seconds: float) -> dict:
    for _ in range(50):  # warm up
        fn()
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
         warmup: int, seconds: float) -> dict:
    """``warmup`` then ``requests`` predict calls from ``concurrency`` keep-alive clients."""
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    counter = [0]
    measuring = threading.Event()
    ready = threading.Barrier(concurrency + 1)

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

        def call() -> None:
            t0 = time.perf_counter()
            conn.request("POST", "/v1/models/cancer:predict", body=body,
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            elapsed = time.perf_counter() - t0
            ok = resp.status == 200 and len(json.loads(data)["predictions"]) == rows
            with lock:
                if not ok:
                    errors.append(f"{resp.status} {data[:80]!r}")
                elif measuring.is_set():
                    lat.append(elapsed)

        try:
            try:
                for _ in range(max(1, warmup // concurrency)):
                    call()
            except BaseException:
                ready.abort()
                raise
            ready.wait()
            measuring.wait()
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                with lock:
                    if counter[0] >= requests:
                        return
                    counter[0] += 1
                call()
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    ready.wait()
    start = time.perf_counter()
    measuring.set()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} failed request(s), first: {errors[0]}")
    return {"lat": lat, "wall": wall}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its threads (Linux; NaN elsewhere)."""
    try:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until_up(proc: subprocess.Popen, port: int, what: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("POST", "/v1/models/cancer:predict", body=b'{"instances": []}')
            c.getresponse().read()
            c.close()
            return
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{what} did not start")


def start_calipers(base: pathlib.Path, port: int, extra: list[str],
                   tree: pathlib.Path | None = None) -> subprocess.Popen:
    env = dict(os.environ)
    if tree is not None:  # that source tree's calipers, not the installed one
        env["PYTHONPATH"] = os.pathsep.join(
            [str(tree / "src"), str(tree / "plugins"), env.get("PYTHONPATH", "")])
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from calipers.cli.main import main; "
         "sys.exit(main())", "serve", str(base), "--port", str(port), "--log-level", "warning",
         "--poll-interval", "0", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    wait_until_up(proc, port, "calipers serve " + " ".join(extra))
    return proc


def start_fastapi(tmp: pathlib.Path, onnx_file: pathlib.Path, port: int) -> subprocess.Popen:
    script = tmp / "fastapi_app.py"
    script.write_text(FASTAPI_APP)
    proc = subprocess.Popen([sys.executable, str(script), str(onnx_file), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_until_up(proc, port, "the FastAPI app")
    return proc


def cpu_model() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300,
                        help="measured requests per server, configuration and round")
    parser.add_argument("--warmup", type=int, default=50,
                        help="unmeasured requests before each measured run")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds")
    parser.add_argument("--seconds", type=float, default=30.0, help="time bound per run")
    parser.add_argument("--batches", default="1,32", help="rows per request")
    parser.add_argument("--concurrency", default="1,4", help="client threads")
    parser.add_argument("--serve-args", default="",
                        help="extra options of both calipers servers, e.g. "
                             "'--intra-op-threads 0'")
    parser.add_argument("--variant", action="append", default=[], metavar="OPTIONS",
                        help="also measure `calipers serve BASE OPTIONS` (repeatable), e.g. "
                             "'--intra-op-threads 0'")
    parser.add_argument("--baseline-tree", type=pathlib.Path, metavar="DIR",
                        help="also measure `calipers serve BASE` (its defaults) from the source "
                             "tree DIR (DIR/src and DIR/plugins first on PYTHONPATH), e.g. the "
                             "previous commit: git archive HEAD src plugins | tar -x -C DIR "
                             "(copy the built src/calipers/_core/*.so along)")
    parser.add_argument("--markdown", action="store_true", help="also print the wide table")
    args = parser.parse_args(argv)

    import onnxruntime as ort
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import HistGradientBoostingClassifier

    import calipers
    from calipers.export import version_dir
    from calipers.serve import free_port

    X, y = load_breast_cancer(return_X_y=True)
    X = X.astype(np.float32)
    model = HistGradientBoostingClassifier(random_state=0).fit(X, y)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-serve-"))
    base = tmp / "models"
    path = calipers.export(model, "onnx", version_dir(base, "cancer"), sample=X[:64])
    artifact = calipers.load(path)
    onnx_file = next(p for p in path.iterdir() if p.suffix == ".onnx")
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    rows_list = [int(b) for b in args.batches.split(",")]
    conc_list = [int(c) for c in args.concurrency.split(",")]

    inproc = {}
    for rows in rows_list:
        batch = X[:rows]
        for label, fn in [
            ("onnxruntime session.run", lambda b=batch: session.run(None, {input_name: b})),
            ("calipers.load(...).run", lambda b=batch: artifact.run(b)),
        ]:
            inproc[(rows, label)] = in_process(fn, requests=20000, seconds=5.0)
    artifact.close()

    extra = args.serve_args.split()
    servers: dict[str, tuple[subprocess.Popen, int]] = {}
    try:
        port = free_port()
        servers["calipers serve"] = (start_calipers(base, port, extra), port)
        port = free_port()
        servers["calipers serve --no-log"] = (start_calipers(base, port, ["--no-log", *extra]),
                                              port)
        if args.baseline_tree is not None:
            port = free_port()
            servers[f"calipers serve ({args.baseline_tree.name})"] = (
                start_calipers(base, port, [], tree=args.baseline_tree.resolve()), port)
        for options in args.variant:
            port = free_port()
            servers[f"calipers serve {options}"] = (
                start_calipers(base, port, options.split()), port)
        if importlib.util.find_spec("fastapi") is None:
            print("FastAPI is not installed: skipping the FastAPI + onnxruntime rows "
                  "(pip install 'calipers[bench]')", file=sys.stderr)
        else:
            port = free_port()
            servers["FastAPI + onnxruntime"] = (start_fastapi(tmp, onnx_file, port), port)
        names = list(servers)
        runs: dict[tuple[int, int, str], list[dict]] = {}
        load_avg = [os.getloadavg()[0]]
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for rows in rows_list:
                body = json.dumps({"instances": X[:rows].tolist()}).encode()
                for conc in conc_list:
                    for name in order:
                        proc, port = servers[name]
                        cpu = cpu_seconds(proc.pid)
                        run = load(port, body, rows, concurrency=conc, requests=args.requests,
                                   warmup=args.warmup, seconds=args.seconds)
                        # includes the warm-up requests: CPU per request over all of them
                        run["cpu"] = cpu_seconds(proc.pid) - cpu
                        run["sent"] = len(run["lat"]) + max(1, args.warmup // conc) * conc
                        runs.setdefault((rows, conc, name), []).append(run)
            load_avg.append(os.getloadavg()[0])
            print(f"round {r + 1}/{args.rounds} done, load average {load_avg[-1]:.1f}",
                  file=sys.stderr)
    finally:
        for proc, _ in servers.values():
            proc.terminate()
        for proc, _ in servers.values():
            proc.wait(timeout=60)

    cells: dict[tuple[int, int, str], dict] = {}
    for key, rs in runs.items():
        lat = [v for r in rs for v in r["lat"]]
        p50, p99 = quantiles(lat)
        per_round = [(len(r["lat"]) / r["wall"], *quantiles(r["lat"])) for r in rs]
        cells[key] = {"n": len(lat), "rps": len(lat) / sum(r["wall"] for r in rs),
                      "p50": p50, "p99": p99,
                      "cpu": 1000.0 * sum(r["cpu"] for r in rs) / sum(r["sent"] for r in rs),
                      # a busy spell of the machine spoils one turn, not the median
                      "rps_med": float(np.median([x[0] for x in per_round])),
                      "p50_med": float(np.median([x[1] for x in per_round])),
                      "p99_med": float(np.median([x[2] for x in per_round]))}

    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs ({cpu_model()}), "
          f"Python {platform.python_version()}, numpy {np.__version__}, onnxruntime "
          f"{ort.__version__}; load average {min(load_avg):.1f}-{max(load_avg):.1f}; "
          f"{args.rounds} rounds x {args.requests} requests per cell"
          + (f"; calipers options: {args.serve_args}" if args.serve_args else ""))
    print()
    print("| rows/request | in-process call | calls | calls/s | p50 ms | p99 ms |")
    print("|---:|---|---:|---:|---:|---:|")
    for (rows, label), r in inproc.items():
        print(f"| {rows} | {label} | {r['n']} | {r['rps']:.0f} | {r['p50']:.3f} | "
              f"{r['p99']:.3f} |")
    print()
    print("| rows x clients | server | requests | req/s | p50 ms | p99 ms | median of rounds: "
          "req/s, p50, p99 | server CPU ms/req |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for rows in rows_list:
        for conc in conc_list:
            for name in names:
                r = cells[(rows, conc, name)]
                print(f"| {rows} x {conc} | {name} | {r['n']} | {r['rps']:.0f} | "
                      f"{r['p50']:.2f} | {r['p99']:.2f} | {r['rps_med']:.0f}, "
                      f"{r['p50_med']:.2f}, {r['p99_med']:.2f} | {r['cpu']:.3f} |")
    if args.markdown:
        for title, keys in [("all rounds pooled", ("rps", "p50", "p99")),
                            ("median of the rounds", ("rps_med", "p50_med", "p99_med"))]:
            print()
            print(f"req/s · p50 / p99 ms, {title}:")
            print()
            print("| rows x clients | " + " | ".join(names) + " |")
            print("|---|" + "---:|" * len(names))
            for rows in rows_list:
                for conc in conc_list:
                    row = [cells[(rows, conc, n)] for n in names]
                    print(f"| {rows} x {conc} | " + " | ".join(
                        f"{r[keys[0]]:.0f} · {r[keys[1]]:.2f} / {r[keys[2]]:.2f}"
                        for r in row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
