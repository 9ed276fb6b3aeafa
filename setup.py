"""Build the Cython core (src/_core/*.pyx) into ``calipers._core.*``.

All metadata lives in pyproject.toml; this file only lists and builds extensions.

Environment switches
--------------------
CALIPERS_NO_OPENMP=1
    Build without OpenMP even when the compiler supports it (serial kernels).
CALIPERS_CYTHON_ANNOTATE=1
    Write Cython's HTML annotation next to each .pyx (to inspect the hot loops).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).parent
CORE_DIR = Path("src") / "_core"

# The compiled modules. tests/test_build.py checks this list against src/_core and
# against what calipers imports, so a new .pyx cannot be forgotten here.
CORE_MODULES = ["_confusion", "_bootstrap", "_ranking", "_histogram", "_optim"]

OPENMP_TEST = r"""
#include <omp.h>
#include <stdio.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    printf("%d\n", n > 0 && omp_get_max_threads() > 0);
    return 0;
}
"""


def _openmp_flags() -> tuple[list[str], list[str]]:
    """Return (compile, link) flags for OpenMP, or empty lists when it is unavailable.

    The test compiles and runs a tiny program, as scikit-learn does: a compiler that
    accepts -fopenmp but cannot link libgomp would otherwise fail much later.
    """
    if os.environ.get("CALIPERS_NO_OPENMP", "") not in ("", "0"):
        print("calipers: CALIPERS_NO_OPENMP set, building serial kernels", file=sys.stderr)
        return [], []
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        cc = "cc"
    flag = "-fopenmp"
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "omp_test.c"
        exe = Path(tmp) / "omp_test"
        src.write_text(OPENMP_TEST)
        try:
            subprocess.run(
                [cc, flag, str(src), "-o", str(exe)],
                check=True,
                capture_output=True,
                timeout=120,
            )
            out = subprocess.run([str(exe)], check=True, capture_output=True, timeout=60)
            ok = out.stdout.strip() == b"1"
        except (OSError, subprocess.SubprocessError):
            ok = False
    if not ok:
        print(
            "calipers: the C compiler cannot build OpenMP programs; building serial kernels",
            file=sys.stderr,
        )
        return [], []
    return [flag], [flag]


class BuildExt(build_ext):
    """build_ext that adds OpenMP flags after probing the compiler once."""

    def build_extensions(self) -> None:
        compile_flags, link_flags = _openmp_flags()
        for ext in self.extensions:
            ext.extra_compile_args = [*ext.extra_compile_args, *compile_flags]
            ext.extra_link_args = [*ext.extra_link_args, *link_flags]
        super().build_extensions()


def _extensions() -> list[Extension]:
    exts = []
    for name in CORE_MODULES:
        exts.append(
            Extension(
                f"calipers._core.{name}",
                sources=[str(CORE_DIR / f"{name}.pyx")],
                include_dirs=[np.get_include(), str(CORE_DIR)],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
                extra_compile_args=["-O3", "-fno-strict-aliasing"],
            )
        )
    return cythonize(
        exts,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
            "embedsignature": True,
        },
        annotate=os.environ.get("CALIPERS_CYTHON_ANNOTATE", "") not in ("", "0"),
    )


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt})
