"""Build of the compiled fast-tick core (everything else is configured in pyproject.toml)."""

import platform
import sys

from setuptools import Extension, setup

# glibc's vector maths library (libmvec) on x86-64 Linux: the persistence law's exp and log four at a
# time where the CPU has AVX2 (chosen at import; elsewhere the scalar path runs, same results to 4 ulp).
# No FMA contraction anywhere, so both paths do the same roundings.
VECTOR_MATHS = sys.platform == "linux" and platform.machine() in ("x86_64", "AMD64")

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
