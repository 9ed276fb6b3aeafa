"""Searchers side by side: calipers bayes/random vs Optuna GPSampler/TPE/random.

Run (one process, so every number compares side by side; ~10 minutes)::

    python benchmarks/bench_search.py                 # 10 seeds, full budgets
    python benchmarks/bench_search.py --quick         # smoke run (2 seeds, short budgets)
    python benchmarks/bench_search.py --json .benchmarks/search.json

Problems: Branin (2-d, 50 trials, minimum 0.397887) and Hartmann6 (6-d on the unit
cube, 100 trials, minimum -3.322368); with ``--problems hard`` (or ``all``) also
Ackley-5 (100 trials), Rosenbrock-4 (100), Levy-6 (100), all with minimum 0, and
Mixed-4 (60 trials, minimum 0): two floats, an int and a 3-way categorical that moves
the floats' optimum. Every searcher gets the same seeds (``--gp-seeds`` runs Optuna's
slow GPSampler on the first few only). For Hartmann6 the runs that ended in its local
basins (-3.2032, regret ~0.119, or -3.1375, regret ~0.185) are counted. For each
(problem, searcher): the median over seeds of the best regret (best value found
minus the known minimum), and the sampler overhead per trial: the time spent in
ask + tell, objective excluded, averaged over the trials of a run (median over
seeds), as wall-clock and as this process's CPU time (the second is steadier on a
shared machine). calipers' searchers are driven through their ask/tell API; Optuna's
through ``study.ask(distributions)`` / ``study.tell`` on in-memory storage (its
lightest path). Each sampler runs once untimed first, so imports and lazy
initialization (torch for GPSampler, scipy for bayes) are not counted.

Storage overhead per trial: a study with a trivial objective and the random
searcher/sampler, run once on in-memory storage and once on a fresh SQLite file;
the overhead is the difference of their wall time per trial. calipers goes through
``calipers.create_study(storage="sqlite:///...").optimize``, Optuna through
``optuna.create_study(storage="sqlite:///...").optimize`` (RDBStorage).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import calipers
from calipers import plugins
from calipers.search import Categorical, Float, Int


@dataclass
class Problem:
    bounds: dict[str, tuple[float, float]]
    objective: Callable[[dict[str, Any]], float]
    minimum: float
    n_trials: int
    ints: dict[str, tuple[int, int]] = field(default_factory=dict)
    cats: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def calipers_space(self) -> dict[str, Any]:
        space: dict[str, Any] = {k: Float(lo, hi) for k, (lo, hi) in self.bounds.items()}
        space.update({k: Int(lo, hi) for k, (lo, hi) in self.ints.items()})
        space.update({k: Categorical(list(c)) for k, c in self.cats.items()})
        return space

    def optuna_distributions(self) -> dict[str, Any]:
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        dists: dict[str, Any] = {
            k: FloatDistribution(lo, hi) for k, (lo, hi) in self.bounds.items()}
        dists.update({k: IntDistribution(lo, hi) for k, (lo, hi) in self.ints.items()})
        dists.update({k: CategoricalDistribution(list(c)) for k, c in self.cats.items()})
        return dists


def branin(p: dict[str, float]) -> float:
    x1, x2 = p["x1"], p["x2"]
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10


_HA = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_HP = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                       [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_HALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(p: dict[str, float]) -> float:
    x = np.array([p[f"x{i}"] for i in range(6)])
    return float(-(_HALPHA * np.exp(-(_HA * (x - _HP) ** 2).sum(1))).sum())


def _vector(p: dict[str, Any], d: int) -> np.ndarray:
    return np.array([p[f"x{i}"] for i in range(d)], dtype=float)


def ackley(p: dict[str, Any], d: int = 5) -> float:
    x = _vector(p, d)
    return float(-20.0 * math.exp(-0.2 * math.sqrt(float(np.mean(x * x))))
                 - math.exp(float(np.mean(np.cos(2.0 * math.pi * x)))) + 20.0 + math.e)


def rosenbrock(p: dict[str, Any], d: int = 4) -> float:
    x = _vector(p, d)
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


def levy(p: dict[str, Any], d: int = 6) -> float:
    w = 1.0 + (_vector(p, d) - 1.0) / 4.0
    body = np.sum((w[:-1] - 1.0) ** 2 * (1.0 + 10.0 * np.sin(math.pi * w[:-1] + 1.0) ** 2))
    tail = (w[-1] - 1.0) ** 2 * (1.0 + np.sin(2.0 * math.pi * w[-1]) ** 2)
    return float(np.sin(math.pi * w[0]) ** 2 + body + tail)


#: Mixed-4: each choice of ``kind`` moves the optimum of the floats and adds a floor.
_MIXED = {"a": ((1.0, -2.0), 0.5), "b": ((-1.0, 1.0), 0.0), "c": ((2.0, 2.0), 1.0)}


def mixed(p: dict[str, Any]) -> float:
    (c0, c1), floor = _MIXED[p["kind"]]
    x0, x1 = p["x0"] - c0, p["x1"] - c1
    # a curved valley in the floats (Rosenbrock-like), a quadratic in the int
    return (x0 * x0 + 5.0 * (x1 - 0.3 * x0 * x0) ** 2 + 0.25 * (p["n"] - 7) ** 2 + floor)


PROBLEMS = {
    "Branin": Problem({"x1": (-5.0, 10.0), "x2": (0.0, 15.0)}, branin, 0.397887357729738, 50),
    "Hartmann6": Problem({f"x{i}": (0.0, 1.0) for i in range(6)}, hartmann6,
                         -3.322368011391339, 100),
}
#: Harder problems (``--problems hard``); bench_batch.py uses PROBLEMS only.
HARD_PROBLEMS = {
    "Ackley5": Problem({f"x{i}": (-32.768, 32.768) for i in range(5)}, ackley, 0.0, 100),
    "Rosenbrock4": Problem({f"x{i}": (-5.0, 10.0) for i in range(4)}, rosenbrock, 0.0, 100),
    "Levy6": Problem({f"x{i}": (-10.0, 10.0) for i in range(6)}, levy, 0.0, 100),
    "Mixed4": Problem({"x0": (-5.0, 5.0), "x1": (-5.0, 5.0)}, mixed, 0.0, 60,
                      ints={"n": (0, 20)}, cats={"kind": ("a", "b", "c")}),
}
#: Hartmann6's local basins: a run whose regret is in one of these ranges ended there.
HARTMANN6_BASINS = ((0.10, 0.14), (0.17, 0.20))


class Clock:
    """Wall and CPU time accumulated over timed sections."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def __enter__(self) -> Clock:
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.wall += time.perf_counter() - self._w
        self.cpu += time.process_time() - self._c


def run_calipers(name: str, problem: Problem, seed: int, n_trials: int) -> tuple[float, Clock]:
    searcher = plugins.get("searcher", name)(problem.calipers_space(), seed=seed)
    clock, best = Clock(), math.inf
    for _ in range(n_trials):
        with clock:
            params = searcher.ask()
        value = problem.objective(params)
        with clock:
            searcher.tell(params, value)
        best = min(best, value)
    return best - problem.minimum, clock


def _optuna_sampler(name: str, seed: int) -> Any:
    import optuna

    return {
        "GPSampler": optuna.samplers.GPSampler,
        "TPE": optuna.samplers.TPESampler,
        "random": optuna.samplers.RandomSampler,
    }[name](seed=seed)


def run_optuna(name: str, problem: Problem, seed: int, n_trials: int) -> tuple[float, Clock]:
    import optuna

    dists = problem.optuna_distributions()
    study = optuna.create_study(sampler=_optuna_sampler(name, seed))
    clock, best = Clock(), math.inf
    for _ in range(n_trials):
        with clock:
            trial = study.ask(dists)
            params = trial.params
        value = problem.objective(params)
        with clock:
            study.tell(trial, value)
        best = min(best, value)
    return best - problem.minimum, clock


SEARCHERS: dict[str, Callable[..., tuple[float, Clock]]] = {
    "calipers bayes": lambda p, s, n: run_calipers("bayes", p, s, n),
    "calipers random": lambda p, s, n: run_calipers("random", p, s, n),
    "Optuna GPSampler": lambda p, s, n: run_optuna("GPSampler", p, s, n),
    "Optuna TPE": lambda p, s, n: run_optuna("TPE", p, s, n),
    "Optuna random": lambda p, s, n: run_optuna("random", p, s, n),
}


def bench_searchers(
    seeds: list[int], quick: bool, have_optuna: bool, only: list[str] | None = None,
    problems: dict[str, Problem] | None = None, gp_seeds: int | None = None,
) -> list[dict[str, Any]]:
    rows = []
    names = [n for n in SEARCHERS if have_optuna or not n.startswith("Optuna")]
    if only:
        names = [n for n in names if any(o.lower() in n.lower() for o in only)]
    for pname, problem in (PROBLEMS if problems is None else problems).items():
        n_trials = min(problem.n_trials, 15 if pname == "Branin" else 20) if quick else (
            problem.n_trials)
        for name in names:
            SEARCHERS[name](problem, 10_000, 12)  # warm-up: imports, lazy set-up
            run_seeds = seeds[:gp_seeds] if gp_seeds and name == "Optuna GPSampler" else seeds
            regrets, walls, cpus = [], [], []
            for seed in run_seeds:
                regret, clock = SEARCHERS[name](problem, seed, n_trials)
                regrets.append(regret)
                walls.append(1e3 * clock.wall / n_trials)
                cpus.append(1e3 * clock.cpu / n_trials)
            row = {
                "problem": pname, "n_trials": n_trials, "searcher": name,
                "seeds": len(run_seeds),
                "median_regret": statistics.median(regrets),
                "worst_regret": max(regrets),
                "overhead_ms": statistics.median(walls),
                "overhead_cpu_ms": statistics.median(cpus),
                "regrets": regrets,
            }
            if pname == "Hartmann6":
                row["n_local_basin"] = sum(
                    any(lo <= r <= hi for lo, hi in HARTMANN6_BASINS) for r in regrets)
            rows.append(row)
            print(f"{pname:11s} {name:17s} median regret {row['median_regret']:.2e} "
                  f"(worst {row['worst_regret']:.2e}, {len(run_seeds)} seeds)  overhead "
                  f"{row['overhead_ms']:.1f} ms wall, {row['overhead_cpu_ms']:.1f} ms cpu"
                  + (f", {row['n_local_basin']} in a local basin"
                     if "n_local_basin" in row else ""), flush=True)
    return rows


def _trivial_calipers(trial: Any) -> float:
    return (trial["x"] - 0.3) ** 2


def _trivial_optuna(trial: Any) -> float:
    return (trial.suggest_float("x", 0.0, 1.0) - 0.3) ** 2


def _time_per_trial(run: Callable[[], None], n: int) -> float:
    t = time.perf_counter()
    run()
    return 1e3 * (time.perf_counter() - t) / n


def bench_storage(n: int, have_optuna: bool) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        def calipers_run(storage: str | None) -> Callable[[], None]:
            study = calipers.create_study(space={"x": Float(0.0, 1.0)}, searcher="random",
                                          seed=0, storage=storage)
            return lambda: study.optimize(_trivial_calipers, n_trials=n)

        mem = _time_per_trial(calipers_run(None), n)
        sql = _time_per_trial(calipers_run(f"sqlite:///{tmp}/calipers.db"), n)
        rows.append({"library": "calipers", "memory_ms": mem, "sqlite_ms": sql,
                     "overhead_ms": sql - mem, "n_trials": n})
        if have_optuna:
            import optuna

            def optuna_run(storage: str | None) -> Callable[[], None]:
                study = optuna.create_study(
                    storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
                return lambda: study.optimize(_trivial_optuna, n_trials=n)

            mem = _time_per_trial(optuna_run(None), n)
            sql = _time_per_trial(optuna_run(f"sqlite:///{tmp}/optuna.db"), n)
            rows.append({"library": "Optuna", "memory_ms": mem, "sqlite_ms": sql,
                         "overhead_ms": sql - mem, "n_trials": n})
    for row in rows:
        print(f"storage {row['library']:9s} in memory {row['memory_ms']:.2f} ms/trial, "
              f"SQLite {row['sqlite_ms']:.2f} ms/trial: overhead {row['overhead_ms']:.2f} ms",
              flush=True)
    return rows


def markdown(rows: list[dict[str, Any]], storage: list[dict[str, Any]]) -> str:
    out = ["| problem (trials) | searcher | seeds | median best regret | worst | in a local "
           "basin | overhead ms/trial (wall) | (cpu) | (cpu) / GPSampler's |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    gp_cpu = {r["problem"]: r["overhead_cpu_ms"] for r in rows
              if r["searcher"] == "Optuna GPSampler"}
    for r in rows:
        ratio = (f"{r['overhead_cpu_ms'] / gp_cpu[r['problem']]:.3f}"
                 if gp_cpu.get(r["problem"]) else "-")
        basin = str(r["n_local_basin"]) if "n_local_basin" in r else "-"
        out.append(f"| {r['problem']} ({r['n_trials']}) | {r['searcher']} | {r['seeds']} | "
                   f"{r['median_regret']:.2e} | {r['worst_regret']:.2e} | {basin} | "
                   f"{r['overhead_ms']:.1f} | {r['overhead_cpu_ms']:.1f} | {ratio} |")
    if storage:
        out += ["", "| storage | in memory ms/trial | SQLite ms/trial | overhead ms/trial |",
                "|---|---:|---:|---:|"]
        for r in storage:
            out.append(f"| {r['library']} ({r['n_trials']} trials) | {r['memory_ms']:.2f} | "
                       f"{r['sqlite_ms']:.2f} | {r['overhead_ms']:.2f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 seeds, short budgets")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (default 10)")
    parser.add_argument("--storage-trials", type=int, default=None,
                        help="trials of the storage comparison (default 300)")
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    parser.add_argument("--only", nargs="*", default=None,
                        help="run only the searchers whose name contains one of these")
    parser.add_argument("--no-storage", action="store_true", help="skip the storage rows")
    parser.add_argument("--problems", default="classic", choices=["classic", "hard", "all"],
                        help="classic: Branin, Hartmann6 (default); hard: Ackley5, "
                        "Rosenbrock4, Levy6, Mixed4; all: both")
    parser.add_argument("--gp-seeds", type=int, default=None,
                        help="run Optuna's GPSampler (~1 s per trial) on the first N seeds only")
    args = parser.parse_args(argv)
    seeds = list(range(args.seeds or (2 if args.quick else 10)))
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        have_optuna = True
    except ImportError:
        print("optuna is not installed (pip install 'calipers[bench]'): calipers rows only")
        have_optuna = False
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"python {sys.version.split()[0]}, numpy {np.__version__}, load "
          f"{os.getloadavg()[0]:.1f}" + (f", optuna {optuna.__version__}" if have_optuna else ""))
    problems = {"classic": PROBLEMS, "hard": HARD_PROBLEMS,
                "all": {**PROBLEMS, **HARD_PROBLEMS}}[args.problems]
    rows = bench_searchers(seeds, args.quick, have_optuna, args.only, problems, args.gp_seeds)
    storage = [] if args.no_storage else bench_storage(
        args.storage_trials or (30 if args.quick else 300), have_optuna)
    print()
    print(markdown(rows, storage))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"searchers": rows, "storage": storage, "seeds": seeds,
                       "load_after": os.getloadavg()[0]}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
