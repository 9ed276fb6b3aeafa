"""Both documented forms of a metric plugin, pip-installed as their own distribution:
found, listed, usable by name, and merge, bootstrap and dask work on them."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap

import pytest
from _declared_metrics import PositiveRate

#: The declared form: tests/_declared_metrics.py's PositiveRate, under another name.
DECLARED = inspect.getsource(PositiveRate).replace("PositiveRate", "DeclaredRate").replace(
    '"positive_rate"', '"declared_rate"')

MODULE = textwrap.dedent('''
    import numpy as np

    import calipers
    from calipers.metrics import Metric


    {declared}


    class PlainRate(Metric):
        """The plain form: its own reset and merge, no declared state."""

        name = "plain_rate"

        def __init__(self):
            super().__init__()
            self.reset()

        def update(self, y_true, y_pred, sample_weight=None):
            p = np.asarray(y_pred)
            self.positives += int(np.count_nonzero(p == 1))
            self.total += p.size

        def compute(self):
            return self.positives / self.total if self.total else float("nan")

        def reset(self):
            self.positives, self.total = 0, 0

        def merge(self, *others):
            with self._lock:
                for other in others:
                    self.positives += other.positives
                    self.total += other.total
            return self


    @calipers.hookimpl
    def register_metric():
        return [DeclaredRate, PlainRate]
''').replace("{declared}", DECLARED)

PYPROJECT = textwrap.dedent('''
    [project]
    name = "two-forms"
    version = "1.0.0"
    dependencies = ["calipers>=0.1", "numpy"]

    [project.entry-points.calipers]
    two_forms = "two_forms"
''')

USE = textwrap.dedent('''
    import json
    import warnings

    import dask
    import dask.array as da
    import numpy as np

    import calipers
    from calipers.metrics import bootstrap

    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 1000)
    out = {}
    for name in ("declared_rate", "plain_rate"):
        whole = calipers.metric(name)
        whole.update(y, y)
        a, b = calipers.metric(name), calipers.metric(name)
        a.update(y[:300], y[:300])
        b.update(y[300:], y[300:])
        merged = a.merge(b).compute()
        res = bootstrap(name, y, y, n=200, seed=1)
        with dask.config.set(scheduler="synchronous"):
            d = calipers.metric(name)
            d.update(da.from_array(y, chunks=170), da.from_array(y, chunks=170))
        out[name] = {"whole": whole.compute(), "merged": merged, "dask": d.compute(),
                     "boot": [res.low, res.value, res.high], "method": res.method,
                     "module": type(whole).__module__}
    print(json.dumps(out))
''')


def _run(args, env, cwd):
    out = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_both_forms_installed_with_pip(tmp_path):
    pytest.importorskip("dask.array")
    dist = tmp_path / "two-forms"
    dist.mkdir()
    (dist / "two_forms.py").write_text(MODULE)
    (dist / "pyproject.toml").write_text(PYPROJECT)
    site = tmp_path / "site"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
          "--no-index", "--disable-pip-version-check", "--target", str(site), str(dist)],
         dict(os.environ), tmp_path)
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("CALIPERS_DISABLE_PLUGINS", None)
    listing = json.loads(_run([sys.executable, "-m", "calipers.cli.main", "plugins", "--json"],
                              env, tmp_path))
    (row,) = [p for p in listing if p["name"] == "two_forms"]
    assert row["status"] == "ok", row
    assert row["provides"] == {"metric": ["declared_rate", "plain_rate"]}
    out = json.loads(_run([sys.executable, "-c", USE], env, tmp_path).splitlines()[-1])
    for name, r in out.items():
        assert r["module"] == "two_forms"
        assert r["merged"] == r["whole"] == r["dask"], name
        low, value, high = r["boot"]
        assert r["method"] == "index" and value == r["whole"] and low < value < high, name
