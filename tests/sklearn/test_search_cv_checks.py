"""SearchCV passes scikit-learn's estimator checks (as a classifier and as a regressor).

Every check of ``parametrize_with_checks`` runs; none is expected to fail. The only
one scikit-learn itself skips is ``check_array_api_input`` (it needs
``SCIPY_ARRAY_API=1`` and an array-API library).
"""

from __future__ import annotations

from calipers_sklearn import SearchCV
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.utils.estimator_checks import parametrize_with_checks

ESTIMATORS = [
    SearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, searcher="grid", scoring="accuracy",
             cv=2),
    SearchCV(Ridge(), {"alpha": [0.1, 1.0]}, searcher="grid", scoring=None, cv=2),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
