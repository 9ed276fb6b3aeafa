"""calipers' UndefinedMetricWarning is also scikit-learn's once scikit-learn is imported
(in either order), so filters and pytest.warns written for scikit-learn catch it; calipers
never imports scikit-learn for this."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHECK = '''
import sys, warnings
{first}
{second}
import sklearn.exceptions as skx
from calipers.metrics import UndefinedMetricWarning, precision_score
import calipers
assert issubclass(UndefinedMetricWarning, skx.UndefinedMetricWarning)
with warnings.catch_warnings(record=True) as rec:
    warnings.simplefilter("always")
    precision_score([0, 0], [0, 0])
assert rec and issubclass(rec[0].category, skx.UndefinedMetricWarning), rec
with warnings.catch_warnings():
    warnings.filterwarnings("error", category=skx.UndefinedMetricWarning)
    try:
        calipers.metric("f1").compute()
    except skx.UndefinedMetricWarning as exc:
        assert isinstance(exc, UndefinedMetricWarning)
    else:
        raise AssertionError("a filter on sklearn's class did not catch calipers' warning")
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=skx.UndefinedMetricWarning)
    warnings.simplefilter("error", UserWarning)
    warnings.filterwarnings("ignore", category=skx.UndefinedMetricWarning)
    precision_score([0, 0], [0, 0])  # ignored as sklearn's own would be
print("ok")
'''


@pytest.mark.parametrize("order", ["calipers first", "sklearn first"])
def test_sklearn_filters_catch_calipers_warnings(order):
    a, b = "import calipers.metrics", "import sklearn.metrics"
    first, second = (a, b) if order == "calipers first" else (b, a)
    out = subprocess.run([sys.executable, "-c", CHECK.format(first=first, second=second)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_without_sklearn_calipers_keeps_its_own_class():
    code = ("import sys\n"
            "import calipers.metrics as m\n"
            "m.precision_score([0, 0], [0, 0])\n"
            "assert 'sklearn' not in sys.modules\n"
            "print([c.__module__ for c in m.UndefinedMetricWarning.__mro__][:2])\n")
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "sklearn" not in out.stdout


def test_pytest_warns_with_sklearns_class():
    skx = pytest.importorskip("sklearn.exceptions")
    from calipers.metrics import precision_score

    with pytest.warns(skx.UndefinedMetricWarning, match="Precision is ill-defined"):
        precision_score([0, 0], [0, 0])
