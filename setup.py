"""Build of the compiled fast-tick core (everything else is configured in pyproject.toml)."""

import platform
import sys
from ctypes.util import find_library

from setuptools import Extension, setup

# glibc's vector maths library (libmvec) on x86-64 Linux, where it is installed: exp, log and tanh four at
# a time in the slow tick where the CPU has AVX2 (chosen at import; elsewhere the scalar path runs, the
# same results to a few ulp). No FMA contraction anywhere, so both paths do the same roundings.
VECTOR_MATHS = sys.platform == "linux" and platform.machine() in ("x86_64", "AMD64") and bool(find_library("mvec"))

setup(
    ext_modules=[
        Extension(
            "model._fastcore",
            sources=["model/_fastcore.c"],
            extra_compile_args=["-O3", "-fopenmp", "-ffp-contract=off"],
            extra_link_args=["-fopenmp"],
            define_macros=[("COHLAB_MVEC", "1")] if VECTOR_MATHS else [],
            libraries=["mvec", "m"] if VECTOR_MATHS else [],
            optional=True,  # without a C compiler the install goes on; the model then uses the numpy engine
        )
    ]
)
