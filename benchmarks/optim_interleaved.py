"""Optimizer steps timed interleaved: each implementation called in turn, many rounds.

On a shared VM the memory bandwidth an optimizer step gets drifts by tens of percent
within a minute, so medians taken one benchmark row after another (pytest-benchmark,
``bench_optim.py``) can differ by more than the implementations do. Calling every
implementation once per round, round after round, exposes them all to the same
drift; the minimum and median per implementation over the rounds are then
comparable (the order is shuffled every round, so that no implementation always
runs right after the same one, with its data half in cache).

Two suites, with the set-ups of ``bench_optim.py``:

* ``core``: 10M float32 parameters in 10 arrays; the numpy API (checked and
  propagating), the torch drop-in, torch fused and foreach; every optimizer.
* ``lists``: the torch drop-in against torch's fused and foreach steps on the
  parameter lists of real models (``bench_optim.LISTS``: 200 tensors totalling 1M
  parameters, 150 x 256x256, 1 x 10M), for every optimizer torch fuses. The drop-in
  and torch fused also run with new gradient tensors at every step (as
  ``zero_grad()`` + ``backward()`` make them), the assignment inside the timing.
* ``overhead``: the same implementations on 10 and on 200 tensors of 8 elements:
  what a step costs beyond its arithmetic, and how that grows per tensor.

Run from the repository root::

    python benchmarks/optim_interleaved.py [--suite core|lists|overhead] [--rounds 60]
        [--json out.json]
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


def _interleave(steps: dict, rounds: int) -> dict[str, dict[str, float]]:
    """min and median ms per implementation, each called once per round in a
    shuffled order."""
    times: dict[str, list[float]] = {k: [] for k in steps}
    order = list(steps)
    rng = random.Random(0)
    for _ in range(rounds):
        rng.shuffle(order)  # no implementation always follows the same one
        for name in order:
            step = steps[name]
            t0 = time.perf_counter()
            step()
            times[name].append((time.perf_counter() - t0) * 1e3)
    return {k: {"min": min(v), "median": statistics.median(v)} for k, v in times.items()}


def _core_suite(rounds: int) -> dict:
    grads = [g * 1e-3 for g in b._arrays(1)]
    results = {}
    for case in b.CASES:
        results[case] = _interleave(_steps(case, grads), rounds)
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
    return results


LIST_IMPLS = {  # name: (bench_optim.list_step's impl, fresh_grads)
    "calipers": ("calipers", False),
    "torch fused": ("fused", False),
    "torch foreach": ("foreach", False),
    "calipers, new grads": ("calipers", True),
    "torch fused, new grads": ("fused", True),
}


def _lists_suite(rounds: int) -> dict:
    results: dict[str, dict] = {}
    for shapes in b.LISTS:
        for case in (c for c in b.CASES if b.CASES[c][3]):  # the ones torch fuses
            steps = {k: b.list_step(case, b.LISTS[shapes], *v) for k, v in LIST_IMPLS.items()}
            results[f"{shapes} | {case}"] = _interleave(steps, rounds)
            del steps
    print("| parameters | optimizer | calipers (ms) | torch fused (ms) | torch foreach (ms) "
          "| fused / calipers | foreach / calipers | calipers, new grads (ms) "
          "| torch fused, new grads (ms) | fused / calipers, new grads |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row, r in results.items():
        med = {k: v["median"] for k, v in r.items()}
        print(f"| {row} | {med['calipers']:.2f} | {med['torch fused']:.2f} "
              f"| {med['torch foreach']:.2f} | {med['torch fused'] / med['calipers']:.2f} "
              f"| {med['torch foreach'] / med['calipers']:.2f} "
              f"| {med['calipers, new grads']:.2f} | {med['torch fused, new grads']:.2f} "
              f"| {med['torch fused, new grads'] / med['calipers, new grads']:.2f} |")
    return results


def _overhead_suite(rounds: int) -> dict:
    """What a step costs beyond its arithmetic: 10 and 200 tensors of 8 elements;
    the per-tensor cost is the slope between the two."""
    results: dict[str, dict] = {}
    impls = {"calipers": ("calipers", False), "torch fused": ("fused", False),
             "torch foreach": ("foreach", False),
             "calipers, new grads": ("calipers", True),
             "torch fused, new grads": ("fused", True)}
    for case in (c for c in b.CASES if b.CASES[c][3]):
        for n in (10, 200):
            steps = {k: b.list_step(case, [(8,)] * n, *v) for k, v in impls.items()}
            results[f"{case} | {n}"] = _interleave(steps, rounds)
    print("| optimizer | implementation | 10 tensors (us) | 200 tensors (us) "
          "| per tensor (us) |")
    print("|---|---|---:|---:|---:|")
    for case in (c for c in b.CASES if b.CASES[c][3]):
        for k in impls:
            small = results[f"{case} | 10"][k]["median"] * 1e3
            large = results[f"{case} | 200"][k]["median"] * 1e3
            print(f"| {case} | {k} | {small:.0f} | {large:.0f} | {(large - small) / 190:.2f} |")
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", choices=["core", "lists", "overhead"], default="core")
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--json", type=pathlib.Path)
    args = ap.parse_args(argv)
    suite = {"core": _core_suite, "lists": _lists_suite, "overhead": _overhead_suite}[args.suite]
    results = suite(args.rounds)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
