"""Compiled kernels (built from src/_core/*.pyx by setup.py).

Nothing here validates input: the wrappers in :mod:`calipers.metrics._counts` do.
"""

# Must match CORE_MODULES in setup.py (tests/test_build.py checks both).
MODULES = ("_confusion", "_bootstrap", "_ranking", "_histogram", "_optim")
