"""The dask plugin: metric updates on dask collections equal in-memory updates.

One module-scoped ``dask.distributed.LocalCluster`` with 2 worker processes: metric
states travel between processes by pickle, as on a real cluster.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any, ClassVar

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")

import calipers  # noqa: E402
from calipers import plugins  # noqa: E402
from calipers.backends import Backend, backend_for  # noqa: E402
from calipers.metrics import Metric  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        yield c


def both(name: str, in_memory: tuple, on_dask: tuple, kwargs_memory: dict | None = None,
         kwargs_dask: dict | None = None, **options: Any):
    """compute() of metric ``name`` updated in memory and on dask."""
    ref = calipers.metric(name, **options)
    ref.update(*in_memory, **(kwargs_memory or {}))
    got = calipers.metric(name, **options)
    got.update(*on_dask, **(kwargs_dask or {}))
    return got.compute(), ref.compute()


def assert_same(got, ref, rtol: float = 0.0):
    if rtol:
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=1e-15)
    else:
        np.testing.assert_array_equal(got, ref)


# -- the backend itself ----------------------------------------------------------------
def test_backend_registered_and_claims_only_dask_collections():
    backend = plugins.get("backend", "dask")
    assert issubclass(backend, Backend) and backend.partitioned
    x = da.arange(4, chunks=2)
    frame = dd.from_pandas(pd.DataFrame({"a": [1, 2, 3]}), npartitions=2)
    for value in (x, frame, frame["a"], frame.index):
        assert backend.accepts(value)
        assert backend_for(value) is backend
    for value in (np.arange(3), [1, 2], pd.Series([1, 2]), 3.0, None):
        assert not backend.accepts(value)
    np.testing.assert_array_equal(backend.to_numpy(x), np.arange(4))
    np.testing.assert_array_equal(backend.to_numpy(frame["a"]), [1, 2, 3])
    np.testing.assert_array_equal(backend.to_numpy(frame), [[1], [2], [3]])


def test_import_calipers_does_not_import_dask_and_plugin_is_listed():
    code = (
        "import sys, calipers, calipers.metrics\n"
        "from calipers import plugins\n"
        "m = calipers.metric('accuracy'); m.update([0, 1], [0, 1])\n"
        "infos = {p.name: p for p in plugins.list_plugins(all=True)}\n"
        "assert infos['dask'].status == 'ok' and infos['dask'].builtin, infos['dask']\n"
        "assert 'dask' in plugins.names('backend')\n"
        "assert not [m for m in sys.modules if m == 'dask' or m.startswith('dask.')], "
        "sorted(m for m in sys.modules if m.startswith('dask'))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plugin_unavailable_without_dask(monkeypatch, fresh_host):
    monkeypatch.setitem(sys.modules, "dask", None)  # find_spec("dask") is now None
    plugins.reload()
    info = {p.name: p for p in plugins.list_plugins(all=True)}["dask"]
    assert info.builtin and info.status == "unavailable"
    assert "pip install 'calipers[dask]'" in info.reason
    assert "dask" not in plugins.names("backend")


def test_numpy_fast_path_never_asks_for_a_partitioned_backend(monkeypatch):
    import calipers.metrics._base as base

    def fail(values):
        raise AssertionError("numpy input must not look for a partitioned backend")

    monkeypatch.setattr(base, "partitioned_backend", fail)
    m = calipers.metric("f1", task="multiclass", num_classes=3)
    m.update(np.array([0, 1, 2, 2]), [0, 1, 1, 2], sample_weight=None)
    m.update((0, 1), np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1]]))
    assert m.n_samples == 6
    with pytest.raises(AssertionError, match="partitioned"):  # anything else asks
        m.update(pd.Series([0, 1]), [0, 1])


# -- confusion metrics on the cluster --------------------------------------------------
@pytest.mark.parametrize("name", ["accuracy", "f1", "mcc", "confusion_matrix",
                                  "cohen_kappa", "balanced_accuracy"])
def test_binary_labels_and_scores_uneven_chunks(client, name):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2_003)
    s = rng.random(2_003).astype(np.float32)
    got, ref = both(name, (y, s), (da.from_array(y, chunks=(700, 3, 1_000, 300)),
                                   da.from_array(s, chunks=(700, 3, 1_000, 300))))
    assert_same(got, ref)


def test_suite_takes_dask_arrays(client):
    from calipers.metrics import Suite

    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 1_501)
    p = np.where(rng.random(1_501) < 0.7, y, rng.integers(0, 3, 1_501))
    w = rng.random(1_501)
    names = ["accuracy", "f1", "mcc", "cohen_kappa"]
    ref = Suite(names, task="multiclass", num_classes=3)
    ref.update(y, p, w)
    got = Suite(names, task="multiclass", num_classes=3)
    got.update(y[:10], p[:10], w[:10])  # the dask state adds to an existing one
    got.update(*(da.from_array(a[10:], chunks=400) for a in (y, p, w)))
    assert got.n_samples == ref.n_samples
    for key, value in ref.compute().items():
        np.testing.assert_allclose(got.compute()[key], value, rtol=1e-12)


def test_multiclass_score_matrix_chunked_on_both_axes(client):
    rng = np.random.default_rng(2)
    n, k = 3_001, 5
    y = rng.integers(0, k, n)
    scores = rng.random((n, k))
    dy = da.from_array(y, chunks=1_000)
    ds = da.from_array(scores, chunks=(777, 2))  # misaligned rows, split columns
    for name, opts in [("f1", {"average": "macro"}), ("precision", {"average": "none"}),
                       ("confusion_matrix", {}), ("accuracy", {})]:
        got, ref = both(name, (y, scores), (dy, ds), task="multiclass", num_classes=k, **opts)
        assert_same(got, ref)


def test_multilabel_indicators_and_scores_with_samples_average(client):
    rng = np.random.default_rng(3)
    n, k = 1_500, 4
    y = rng.integers(0, 2, (n, k))
    scores = rng.random((n, k))
    pred = (scores > 0.3).astype(np.int8)
    for y_pred in (pred, scores):
        for name, avg in [("f1", "samples"), ("jaccard", "micro"), ("recall", "none")]:
            got, ref = both(name, (y, y_pred),
                            (da.from_array(y, chunks=(400, 4)),
                             da.from_array(y_pred, chunks=(250, 3))),
                            task="multilabel", num_labels=k, average=avg, threshold=0.3,
                            zero_division=0)
            assert_same(got, ref)
    got, ref = both("hamming_loss", (y, pred), (da.from_array(y, chunks=(400, 4)),
                                                da.from_array(pred, chunks=(250, 3))),
                    task="multilabel", num_labels=k)
    assert_same(got, ref)


def test_sample_weights_as_keyword_including_zeros(client):
    rng = np.random.default_rng(4)
    n = 2_500
    y = rng.integers(0, 3, n)
    p = rng.integers(0, 3, n)
    w = rng.random(n)
    w[::7] = 0.0
    for name in ("f1", "accuracy", "cohen_kappa", "confusion_matrix"):
        got, ref = both(name, (y, p), (da.from_array(y, chunks=600), da.from_array(p, chunks=900)),
                        {"sample_weight": w}, {"sample_weight": da.from_array(w, chunks=1_100)},
                        task="multiclass", num_classes=3)
        # float weight sums are added in another order: equal up to rounding
        assert_same(got, ref, rtol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_random_chunkings_accumulate_on_existing_state(client, seed):
    rng = np.random.default_rng(10 + seed)
    n = int(rng.integers(1, 800))
    y = rng.integers(0, 4, n)
    p = rng.integers(0, 4, n)

    def random_chunks():
        cuts = np.sort(rng.choice(np.arange(1, n), size=min(n - 1, rng.integers(0, 6)),
                                  replace=False)) if n > 1 else []
        return tuple(int(c) for c in np.diff([0, *cuts, n]))

    ref = calipers.metric("f1", task="multiclass", num_classes=4, average="weighted")
    got = calipers.metric("f1", task="multiclass", num_classes=4, average="weighted")
    head_y, head_p = rng.integers(0, 4, 50), rng.integers(0, 4, 50)
    for m in (ref, got):
        m.update(head_y, head_p)  # existing state is kept and added to
    ref.update(y, p)
    got.update(da.from_array(y, chunks=(random_chunks(),)),
               y_pred=da.from_array(p, chunks=(random_chunks(),)))
    assert got.n_samples == ref.n_samples == n + 50
    assert_same(got.compute(), ref.compute())
    assert_same(got.state_dict()["state"]["counts"], ref.state_dict()["state"]["counts"])


@pytest.fixture
def align_calls(monkeypatch):
    """Count the realignments (lengths computed, arrays rechunked) on the client side."""
    import calipers_dask

    calls = []
    real = calipers_dask._align

    def spy(arrays, names):
        calls.append(len(arrays))
        return real(arrays, names)

    monkeypatch.setattr(calipers_dask, "_align", spy)
    return calls


def test_dask_dataframe_columns_and_frames(client, align_calls):
    rng = np.random.default_rng(5)
    n = 1_999
    frame = pd.DataFrame({"y": rng.integers(0, 3, n), "p": rng.integers(0, 3, n),
                          "s0": rng.random(n), "s1": rng.random(n), "s2": rng.random(n),
                          "w": rng.random(n)})
    ddf = dd.from_pandas(frame, npartitions=4)
    opts = {"task": "multiclass", "num_classes": 3}
    got, ref = both("f1", (frame["y"], frame["p"]), (ddf["y"], ddf["p"]), **opts)
    assert_same(got, ref)
    # a frame as the score matrix, weights by keyword
    scores = frame[["s0", "s1", "s2"]].to_numpy()
    got, ref = both("accuracy", (frame["y"].to_numpy(), scores),
                    (ddf["y"], ddf[["s0", "s1", "s2"]]),
                    {"sample_weight": frame["w"].to_numpy()}, {"sample_weight": ddf["w"]},
                    **opts)
    assert_same(got, ref, rtol=1e-12)
    # filtered: partitions of unknown length, still aligned
    keep = frame["s0"] > 0.3
    part = ddf[ddf["s0"] > 0.3]
    got, ref = both("mcc", (frame["y"][keep], frame["p"][keep]), (part["y"], part["p"]),
                    **opts)
    assert_same(got, ref)
    assert align_calls == []  # columns of one frame: used partition by partition as they are


def test_frames_partitioned_differently_are_realigned(client, align_calls):
    rng = np.random.default_rng(8)
    n = 1_999
    frame = pd.DataFrame({"y": rng.integers(0, 3, n), "p": rng.integers(0, 3, n)})
    opts = {"task": "multiclass", "num_classes": 3}
    # the same number of partitions, of different (unknown to the arrays) lengths:
    # 500/500/500/499 against 600/600/600/199; the tasks find out and fall back
    even = dd.from_pandas(frame, npartitions=4)
    uneven = dd.from_pandas(frame, chunksize=600)
    assert even.npartitions == uneven.npartitions == 4
    got, ref = both("confusion_matrix", (frame["y"], frame["p"]), (even["y"], uneven["p"]),
                    **opts)
    assert_same(got, ref)
    assert align_calls == [2]
    # different numbers of partitions, one of them filtered (unknown lengths)
    filtered = even[even["p"] >= 0]
    odd = dd.from_pandas(frame, chunksize=300)
    got, ref = both("f1", (frame["y"], frame["p"]), (odd["y"], filtered["p"]), **opts)
    assert_same(got, ref)
    # a dask Series with a dask array chunked otherwise
    got, ref = both("f1", (frame["y"], frame["p"]),
                    (even["y"], da.from_array(frame["p"].to_numpy(), chunks=700)), **opts)
    assert_same(got, ref)
    assert align_calls == [2, 2, 2]


def test_a_failing_partition_leaves_the_metric_unchanged(client):
    rng = np.random.default_rng(6)
    m = calipers.metric("f1", task="multiclass", num_classes=3)
    m.update(rng.integers(0, 3, 40), rng.integers(0, 3, 40))
    before = m.state_dict()
    y = rng.integers(0, 3, 1_000)
    y[950] = 7  # out of range, in the last partition only
    with pytest.raises(ValueError, match="7"):
        m.update(da.from_array(y, chunks=250), da.from_array(rng.integers(0, 3, 1_000),
                                                             chunks=250))
    after = m.state_dict()
    assert after["options"] == before["options"]
    np.testing.assert_array_equal(after["state"]["counts"], before["state"]["counts"])
    assert m.n_samples == 40


def test_bad_mixes_raise_clear_errors(client):
    y = np.arange(10) % 2
    m = calipers.metric("accuracy")
    with pytest.raises(TypeError, match=r"y_pred is a ndarray of length 10, one value per sample"):
        m.update(da.from_array(y, chunks=5), y)
    with pytest.raises(TypeError, match=r"sample_weight is a list of length 10"):
        m.update(da.from_array(y, chunks=5), da.from_array(y, chunks=5),
                 sample_weight=[1.0] * 10)
    with pytest.raises(ValueError, match=r"different numbers of samples \(y_true: 10, y_pred: 9\)"):
        m.update(da.from_array(y, chunks=5), da.from_array(y[:9], chunks=5))
    assert m.n_samples == 0


def test_without_a_client_uses_the_default_scheduler(client, monkeypatch):
    import calipers_dask
    import dask

    monkeypatch.setattr(calipers_dask, "_client", lambda: None)
    y = np.arange(100) % 3
    with dask.config.set(scheduler="threads"):
        got, ref = both("f1", (y, y[::-1]), (da.from_array(y, chunks=30),
                                             da.from_array(y[::-1], chunks=45)),
                        task="multiclass", num_classes=3)
    assert_same(got, ref)


# -- any metric: a third-party one with keyword arrays and options ---------------------
class GroupMean(Metric):
    """A plugin-style metric: the mean of per-group weighted score means."""

    name: ClassVar[str] = "test_group_mean"

    def __init__(self, num_groups: int = 3) -> None:
        super().__init__()
        self.num_groups = num_groups
        self.reset()

    def update(self, y_score: Any, *, group_ids: Any, group_weights: Any = None,
               scale: float = 1.0) -> None:
        s = np.asarray(y_score, dtype=float)
        g = np.asarray(group_ids)
        if s.shape != g.shape:
            raise ValueError(f"y_score and group_ids differ: {s.shape} vs {g.shape}")
        gw = np.ones(self.num_groups) if group_weights is None else np.asarray(group_weights)
        with self._lock:
            self.sums += np.bincount(g, weights=s * scale * gw[g], minlength=self.num_groups)
            self.counts += np.bincount(g, minlength=self.num_groups)

    def compute(self) -> float:
        return float(np.mean(self.sums / np.maximum(self.counts, 1)))

    def reset(self) -> None:
        self.sums = np.zeros(self.num_groups)
        self.counts = np.zeros(self.num_groups, dtype=np.int64)

    def _merge_state(self, other: Metric) -> None:
        assert isinstance(other, GroupMean)
        self.sums += other.sums
        self.counts += other.counts

    def state_dict(self) -> dict[str, Any]:
        return {"sums": self.sums.copy(), "counts": self.counts.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sums, self.counts = state["sums"].copy(), state["counts"].copy()


def test_any_metric_subclass_keyword_arrays_and_broadcast_options(client):
    rng = np.random.default_rng(7)
    n = 1_234
    s = rng.integers(0, 100, n).astype(float)  # integers: sums are exact in any order
    g = rng.integers(0, 3, n)
    gw = np.array([1.0, 2.0, 0.5])  # per group, not per sample: broadcast to partitions
    ref = GroupMean()
    ref.update(s, group_ids=g, group_weights=gw, scale=2.0)
    got = GroupMean()
    got.update(da.from_array(s, chunks=300), group_ids=da.from_array(g, chunks=500),
               group_weights=gw, scale=2.0)
    assert got.compute() == ref.compute()
    np.testing.assert_array_equal(got.counts, ref.counts)
    # a 0-d dask array is an option (computed once), not a per-sample argument
    again = GroupMean()
    again.update(da.from_array(s, chunks=300), group_ids=da.from_array(g, chunks=500),
                 group_weights=gw, scale=da.from_array(np.float64(2.0)))
    assert again.compute() == ref.compute()


def test_empty_dask_arrays_count_nothing(client):
    empty = np.array([], dtype=np.int64)
    m = calipers.metric("accuracy")
    m.update(da.from_array(empty, chunks=5), da.from_array(empty, chunks=3))
    y = da.from_array(np.arange(10) % 2, chunks=4)
    m.update(y[y > 5], y[y > 5])  # filtered to nothing, unknown chunk sizes
    assert m.n_samples == 0
    m.update(da.from_array(np.array([0, 1, 1]), chunks=2), da.from_array(np.array([0, 1, 0]),
                                                                          chunks=1))
    assert m.n_samples == 3 and m.compute() == pytest.approx(2 / 3)


# -- score metrics: exact and binned -----------------------------------------------------
def test_score_metrics_binary_exact_and_binned(client):
    rng = np.random.default_rng(9)
    n = 3_001
    y = rng.integers(0, 2, n)
    s = np.round(rng.random(n), 2).astype(np.float32)  # heavy ties, float32
    w = rng.random(n)
    w[::5] = 0.0
    dy = da.from_array(y, chunks=(1_000, 1, 2_000))
    ds = da.from_array(s, chunks=700)
    dw = da.from_array(w, chunks=1_300)
    # exact states keep the partitions' samples in order: bit-equal results; binned
    # counts are integers; float sums (weighted bins, log loss) round in another order
    for name, opts, exact, weighted_exact in [
        ("roc_auc", {}, True, True), ("roc_auc", {"bins": 1_000}, True, False),
        ("average_precision", {}, True, True),
        ("average_precision", {"bins": 100}, True, False), ("log_loss", {}, False, False),
    ]:
        got, ref = both(name, (y, s), (dy, ds), **opts)
        assert_same(got, ref, rtol=0.0 if exact else 1e-12)
        got, ref = both(name, (y, s), (dy, ds), {"sample_weight": w}, {"sample_weight": dw},
                        **opts)
        assert_same(got, ref, rtol=0.0 if weighted_exact else 1e-12)


def test_score_metrics_multiclass_score_matrix(client):
    rng = np.random.default_rng(11)
    n, k = 2_000, 4
    y = rng.integers(0, k, n)
    p = rng.random((n, k))
    p /= p.sum(axis=1, keepdims=True)
    dy = da.from_array(y, chunks=600)
    dp = da.from_array(p, chunks=(450, 3))
    for name, opts in [("roc_auc", {"average": "macro"}),
                       ("roc_auc", {"average": "weighted", "bins": 2_000}),
                       ("average_precision", {"average": "none"}), ("log_loss", {})]:
        got, ref = both(name, (y, p), (dy, dp), task="multiclass", num_classes=k, **opts)
        assert_same(got, ref, rtol=1e-12)


def test_map_with_query_ids_spanning_partitions(client):
    rng = np.random.default_rng(12)
    n = 2_500
    q = np.sort(rng.integers(0, 60, n))  # queries cut across partitions
    y = rng.integers(0, 2, n)
    s = np.round(rng.random(n), 1)
    frame = dd.from_pandas(pd.DataFrame({"q": q, "y": y, "s": s}), npartitions=5)
    ref = calipers.metric("map")
    ref.update(y, s, query_ids=q)
    got = calipers.metric("map")
    got.update(frame["y"], frame["s"], query_ids=frame["q"])
    assert_same(got.compute(), ref.compute(), rtol=1e-12)
    got = calipers.metric("map")
    got.update(da.from_array(y, chunks=800), da.from_array(s, chunks=333),
               query_ids=da.from_array(q, chunks=1_000))
    assert_same(got.compute(), ref.compute(), rtol=1e-12)
