"""Small data files shipped with calipers.

``breast_cancer_predictions.csv`` holds a logistic-regression model's predictions on
the test split of scikit-learn's breast-cancer data; ``calipers eval`` evaluates it when
given no file. ``scripts/make_default_data.py`` in the source tree makes it, and
``README.md`` next to it describes the columns.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

__all__ = ["DEFAULT_PREDICTIONS", "default_predictions_path"]

#: File name of the shipped predictions, inside this package.
DEFAULT_PREDICTIONS = "breast_cancer_predictions.csv"


def default_predictions_path() -> Path:
    """Return the path of the shipped breast-cancer predictions CSV.

    Returns
    -------
    pathlib.Path
        A real file on disk (calipers is installed unzipped, so the package resource is
        a file in the package directory).

    Raises
    ------
    FileNotFoundError
        If the file is missing from the installation (a broken or partial install).
    """
    resource = importlib.resources.files(__name__).joinpath(DEFAULT_PREDICTIONS)
    path = Path(str(resource))
    if not path.is_file():
        raise FileNotFoundError(
            f"the shipped predictions file {DEFAULT_PREDICTIONS!r} is missing from "
            f"{path.parent}; reinstall calipers (or run scripts/make_default_data.py "
            "in a source checkout)"
        )
    return path
