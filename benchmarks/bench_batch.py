"""What batching costs the ``bayes`` searcher in regret: Branin@50 and Hartmann6@100 at
batch sizes 1, 2, 4 and 8.

Run (one process; about 5 minutes on a quiet core)::

    python benchmarks/bench_batch.py                     # 10 seeds, batch 1 2 4 8
    python benchmarks/bench_batch.py --seeds 3 --batch 1 4 --json .benchmarks/batch.json

A batch of ``k`` is what a study with ``batch_size=k`` (the default for ``n_jobs=k``)
does: ask ``k`` trials (the later ones of a round see the earlier ones as pending,
kriging believer), evaluate them, then tell the ``k`` results. The objective is
evaluated sequentially: the point is the regret at a fixed number of trials, not the
wall time. Same problems, budgets and seeds (0-9) as ``bench_search.py``; regret =
best value found minus the known minimum. For Hartmann6 the runs that ended in the
local basin at -3.2032 (regret ~0.119) are counted. Batch sizes are interleaved seed
by seed, so a change of machine load hits them alike.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from typing import Any

import numpy as np

from calipers import plugins
from calipers.search import Float

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_search import PROBLEMS, Problem  # noqa: E402

#: Hartmann6's local basin: a run whose regret is in this range ended there.
LOCAL_BASIN = (0.10, 0.14)


def run_batched(problem: Problem, seed: int, batch: int) -> tuple[float, float, float]:
    """Best regret, and ask+tell wall / CPU ms per trial, of one bayes run in rounds of
    ``batch``."""
    space = {k: Float(lo, hi) for k, (lo, hi) in problem.bounds.items()}
    searcher = plugins.get("searcher", "bayes")(space, seed=seed)
    best, wall, cpu, number = math.inf, 0.0, 0.0, 0
    while number < problem.n_trials:
        w, c = time.perf_counter(), time.process_time()
        k = min(batch, problem.n_trials - number)
        round_ = [(n, searcher.ask(n)) for n in range(number, number + k)]
        wall += time.perf_counter() - w
        cpu += time.process_time() - c
        values = [problem.objective(params) for _, params in round_]
        w, c = time.perf_counter(), time.process_time()
        for (n, params), value in zip(round_, values, strict=True):
            searcher.tell(params, value, number=n)
        wall += time.perf_counter() - w
        cpu += time.process_time() - c
        best = min(best, *values)
        number += k
    return best - problem.minimum, 1e3 * wall / number, 1e3 * cpu / number


def bench(seeds: list[int], batches: list[int]) -> list[dict[str, Any]]:
    rows = []
    for pname, problem in PROBLEMS.items():
        run_batched(problem, 10_000, 2)  # warm-up: imports, lazy set-up
        runs: dict[int, list[tuple[float, float, float]]] = {b: [] for b in batches}
        for seed in seeds:
            for b in batches:  # interleaved: load changes hit every batch size alike
                runs[b].append(run_batched(problem, seed, b))
        for b in batches:
            regrets = [r for r, _, _ in runs[b]]
            row = {
                "problem": pname, "n_trials": problem.n_trials, "batch": b,
                "seeds": len(seeds),
                "median_regret": statistics.median(regrets),
                "worst_regret": max(regrets),
                "n_below_1e-3": sum(r <= 1e-3 for r in regrets),
                "n_local_basin": sum(LOCAL_BASIN[0] <= r <= LOCAL_BASIN[1] for r in regrets),
                "overhead_ms": statistics.median(w for _, w, _ in runs[b]),
                "overhead_cpu_ms": statistics.median(c for _, _, c in runs[b]),
                "regrets": regrets,
            }
            rows.append(row)
            print(f"{pname:9s} batch {b}: median regret {row['median_regret']:.2e} (worst "
                  f"{row['worst_regret']:.2e}), {row['n_below_1e-3']}/{len(seeds)} <= 1e-3, "
                  f"{row['n_local_basin']} in the local basin; ask+tell "
                  f"{row['overhead_ms']:.1f} ms wall, {row['overhead_cpu_ms']:.1f} ms cpu "
                  "per trial", flush=True)
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    out = ["| problem (trials) | batch | median best regret | worst | runs <= 1e-3 | "
           "in local basin (~0.119) | ask+tell ms/trial (wall) | (cpu) |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        basin = str(r["n_local_basin"]) if r["problem"] == "Hartmann6" else "-"
        out.append(f"| {r['problem']} ({r['n_trials']}) | {r['batch']} | "
                   f"{r['median_regret']:.2e} | {r['worst_regret']:.2e} | "
                   f"{r['n_below_1e-3']}/{r['seeds']} | {basin} | {r['overhead_ms']:.1f} | "
                   f"{r['overhead_cpu_ms']:.1f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="number of seeds (default 10)")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 2, 4, 8],
                        help="batch sizes (default 1 2 4 8)")
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    args = parser.parse_args(argv)
    seeds = list(range(args.seeds))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"python {sys.version.split()[0]}, numpy {np.__version__}, load "
          f"{os.getloadavg()[0]:.1f}")
    start = time.perf_counter()
    rows = bench(seeds, args.batch)
    print(f"\n{time.perf_counter() - start:.0f} s, load {os.getloadavg()[0]:.1f} at the end\n")
    print(markdown(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "seeds": seeds, "load_after": os.getloadavg()[0]}, f,
                      indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
