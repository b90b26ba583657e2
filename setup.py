"""Build of the compiled fast-tick core (everything else is configured in pyproject.toml)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "model._fastcore",
            sources=["model/_fastcore.c"],
            extra_compile_args=["-O3", "-fopenmp"],
            extra_link_args=["-fopenmp"],
            optional=True,  # without a C compiler the install goes on; the model then uses the numpy engine
        )
    ]
)
