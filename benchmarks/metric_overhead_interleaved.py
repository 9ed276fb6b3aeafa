"""Old vs new calipers, side by side: metric update cost, interleaved round by round.

Runs one worker process per tree (each imports calipers from its own ``src``); the
parent asks each for one round in turn, so both see the same machine drift. Used to
show that declared states (``Metric.add_state``) and the update wrapper cost nothing
measurable. Usage::

    git worktree add /tmp/oldtree <old commit>
    cp src/calipers/_core/*.so /tmp/oldtree/src/calipers/_core/   # same compiled core
    python benchmarks/metric_overhead_interleaved.py /tmp/oldtree . --rounds 15
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap

import numpy as np

WORKER = textwrap.dedent('''
    import json, sys, time, warnings
    import numpy as np
    import calipers
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    N = 10_000_000
    t = rng.integers(0, 2, N)
    p = np.where(rng.random(N) < 0.8, t, 1 - t)
    s = rng.random(N)
    s1m, t1m = s[:1_000_000], t[:1_000_000]
    batches = [(t[i * 100:(i + 1) * 100], p[i * 100:(i + 1) * 100], s[i * 100:(i + 1) * 100])
             for i in range(1000)]

    def timed(fn):
        t0 = time.perf_counter(); fn(); return (time.perf_counter() - t0) * 1e3

    def big_f1():
        m = calipers.metric("f1"); m.update(t, p); m.compute()

    def big_auc_binned():
        m = calipers.metric("roc_auc", bins=10_000); m.update(t, s); m.compute()

    def log_loss_1m():
        m = calipers.metric("log_loss"); m.update(t1m, s1m); m.compute()

    def small(name, **opts):
        def run():
            m = calipers.metric(name, **opts)
            for a, b, c in batches:
                m.update(a, c if name in ("log_loss", "roc_auc", "brier_score") else b)
            m.compute()
        return run

    cases = {"f1, 10M labels (1 update)": big_f1,
             "roc_auc bins=10k, 10M scores (1 update)": big_auc_binned,
             "log_loss, 1M (1 update)": log_loss_1m,
             "f1, 1000 updates of 100 rows": small("f1"),
             "log_loss, 1000 updates of 100 rows": small("log_loss"),
             "brier_score, 1000 updates of 100 rows": small("brier_score"),
             "roc_auc exact, 1000 updates of 100 rows": small("roc_auc")}
    for fn in cases.values():
        fn()  # warm-up
    print(json.dumps({"file": calipers.__file__}), flush=True)
    for line in sys.stdin:
        print(json.dumps({k: timed(fn) for k, fn in cases.items()}), flush=True)
''')


def start(tree: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [os.path.join(tree, "src"), os.path.join(tree, "plugins")])}
    proc = subprocess.Popen([sys.executable, "-c", WORKER], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    print(tree, "->", json.loads(proc.stdout.readline())["file"], file=sys.stderr)
    return proc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    procs = {"old": start(args.old), "new": start(args.new)}
    times: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
    order = list(procs)
    for r in range(args.rounds):
        for name in order if r % 2 == 0 else order[::-1]:
            p = procs[name]
            p.stdin.write("go\n")
            p.stdin.flush()
            for case, ms in json.loads(p.stdout.readline()).items():
                times[name].setdefault(case, []).append(ms)
    for p in procs.values():
        p.stdin.close()
        p.wait()
    print("| case | old median (ms) | new median (ms) | new / old |")
    print("|---|---:|---:|---:|")
    for case in times["old"]:
        o, n = np.median(times["old"][case]), np.median(times["new"][case])
        print(f"| {case} | {o:.2f} | {n:.2f} | {n / o:.3f} |")


if __name__ == "__main__":
    main()
