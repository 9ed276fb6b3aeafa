"""ConfusionMatrix.plot of a metric whose counts are still on a torch device."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")
calipers_torch = pytest.importorskip("calipers_torch")

from calipers.metrics import ConfusionMatrix  # noqa: E402


def test_plot_folds_device_counts_first():
    import matplotlib

    matplotlib.use("Agg")
    calipers_torch.set_cpu_kernels("torch")
    try:
        m = ConfusionMatrix(task="multiclass", num_classes=3)
        m.update(torch.tensor([0, 1, 2, 2]), torch.tensor([0, 2, 2, 1]))
        ax = m.plot()
    finally:
        calipers_torch.set_cpu_kernels("core")
    shown = np.array([int(t.get_text()) for t in ax.texts]).reshape(3, 3)
    np.testing.assert_array_equal(shown, [[1, 0, 0], [0, 0, 1], [0, 1, 1]])
