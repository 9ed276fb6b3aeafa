"""Optimizer steps timed interleaved: each implementation called in turn, many rounds.

On a shared VM the memory bandwidth an optimizer step gets drifts by tens of percent
within a minute, so medians taken one benchmark row after another (pytest-benchmark,
``bench_optim.py``) can differ by more than the implementations do. Calling every
implementation once per round, round after round, exposes them all to the same
drift; the minimum and median per implementation over the rounds are then
comparable (the order is shuffled every round, so that no implementation always
runs right after the same one, with its data half in cache). Same set-up as
``bench_optim.py`` (10M float32 parameters in 10 arrays, state allocated by one
untimed step). Run from the repository root::

    python benchmarks/optim_interleaved.py [--rounds 40] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import random
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import bench_optim as b  # noqa: E402

IMPLS = ("calipers step", "calipers propagate", "calipers_torch drop-in", "torch fused",
         "torch foreach")


def _steps(case: str, grads) -> dict:
    has_fused = b.CASES[case][3]
    steps = {
        "calipers step": b._calipers(case, grads, "raise"),
        "calipers propagate": b._calipers(case, grads, "propagate"),
        "calipers_torch drop-in": b._dropin(case, grads),
        "torch foreach": b._torch(case, grads, foreach=True),
    }
    if has_fused:
        steps["torch fused"] = b._torch(case, grads, fused=True)
    return steps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--json", type=pathlib.Path)
    args = ap.parse_args(argv)
    grads = [g * 1e-3 for g in b._arrays(1)]
    results: dict[str, dict[str, dict[str, float]]] = {}
    for case in b.CASES:
        steps = _steps(case, grads)
        times: dict[str, list[float]] = {k: [] for k in steps}
        order = list(steps)
        rng = random.Random(0)
        for _ in range(args.rounds):
            rng.shuffle(order)  # no implementation always follows the same one
            for name in order:
                step = steps[name]
                t0 = time.perf_counter()
                step()
                times[name].append((time.perf_counter() - t0) * 1e3)
        results[case] = {k: {"min": min(v), "median": statistics.median(v)}
                         for k, v in times.items()}
        del steps
    head = "| optimizer | " + " | ".join(f"{i} min / median (ms)" for i in IMPLS)
    print(head + " | fused / drop-in | fused / propagate | fused / step | foreach / drop-in |"
          " foreach / propagate | foreach / step |")
    print("|---" * (len(IMPLS) + 7) + "|")
    for case, r in results.items():
        cells = [f"{r[i]['min']:.2f} / {r[i]['median']:.2f}" if i in r else "n/a"
                 for i in IMPLS]

        def ratio(a: str, c: str, r=r) -> str:
            return f"{r[a]['median'] / r[c]['median']:.2f}" if a in r else "n/a"

        ratios = [ratio(a, c) for a in ("torch fused", "torch foreach")
                  for c in ("calipers_torch drop-in", "calipers propagate", "calipers step")]
        print(f"| {case} | " + " | ".join(cells + ratios) + " |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
