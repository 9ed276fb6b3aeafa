"""Make the predictions file that ``calipers eval`` evaluates when given no FILE.

Run from the repository root (needs scikit-learn; no network: the breast-cancer data
ships inside scikit-learn)::

    python scripts/make_default_data.py

What it does, deterministically:

1. loads scikit-learn's Wisconsin breast-cancer data
   (:func:`sklearn.datasets.load_breast_cancer`, 569 samples, 30 features;
   target 0 = malignant, 1 = benign);
2. splits it 70/30 with ``train_test_split(test_size=0.3, stratify=y,
   random_state=0)``;
3. fits ``StandardScaler`` + ``LogisticRegression(C=1.0, max_iter=1000)`` on the
   training part;
4. writes one row per test sample (171 rows) to
   ``src/calipers/data/breast_cancer_predictions.csv`` with the columns

   - ``y_true``: the true class, 0 or 1 (scikit-learn's target);
   - ``y_pred``: the model's predicted class, 0 or 1 (``predict``);
   - ``y_score``: the predicted probability of class 1 (benign), 10 decimals;
   - ``true_class`` / ``pred_class``: the same classes by name
     (``malignant`` / ``benign``), for trying string labels.

The file is committed; rerun this script only to regenerate it (the numbers can move
in the last decimals between scikit-learn versions).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[1] / "src" / "calipers" / "data"
DEFAULT_OUT = DATA_DIR / "breast_cancer_predictions.csv"
RANDOM_STATE = 0
TEST_SIZE = 0.3


def make_rows() -> list[dict[str, str]]:
    """Fit the model and return the test-split rows to write.

    Returns
    -------
    list of dict
        One dict per test sample with the keys ``y_true``, ``y_pred``, ``y_score``,
        ``true_class`` and ``pred_class`` (all formatted as strings).
    """
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_breast_cancer()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data,
        data.target,
        test_size=TEST_SIZE,
        stratify=data.target,
        random_state=RANDOM_STATE,
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    model.fit(x_train, y_train)
    score = model.predict_proba(x_test)[:, 1]
    pred = model.predict(x_test)
    names = data.target_names
    return [
        {
            "y_true": str(int(t)),
            "y_pred": str(int(p)),
            "y_score": f"{s:.10f}",
            "true_class": str(names[t]),
            "pred_class": str(names[p]),
        }
        for t, p, s in zip(y_test, pred, score, strict=True)
    ]


def main(argv: list[str] | None = None) -> int:
    """Write the predictions CSV (``--out`` overrides the packaged location)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output CSV path")
    args = parser.parse_args(argv)
    rows = make_rows()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
