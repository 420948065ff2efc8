"""Declare the compiled extensions; all other metadata lives in pyproject.toml."""

import os

from Cython.Build import cythonize
from pybind11.setup_helpers import Pybind11Extension
from setuptools import Extension, setup

# Portable optimisation only: wheels built here run on other CPUs of the same architecture.
OPTIMISE = ["-O3", "-fno-math-errno"]

# Plain complex products and quotients, without C99's recovery of infinities: the kernels'
# values are finite and bounded, and the guarded products cost a third of the estimator's
# measurement functions and 2.5x the radial sweep's time.
PLAIN_COMPLEX = "-fcx-limited-range"

cython_extensions = [
    Extension(
        "gridedge._native.phasor",
        ["gridedge/_native/phasor.pyx"],
        extra_compile_args=[*OPTIMISE],
    ),
]


def cpp_extension(name: str, *flags: str, headers: tuple[str, ...] = ()) -> Pybind11Extension:
    """A pybind11 module ``gridedge._native.<name>`` from ``gridedge/_native/<name>.cpp``.

    Each gets its own copy of the flags: pybind11 appends its own to the list it is given.
    """
    return Pybind11Extension(
        f"gridedge._native.{name}",
        [f"gridedge/_native/{name}.cpp"],
        include_dirs=["gridedge/_native/include"],
        depends=[f"gridedge/_native/include/gridedge/{header}" for header in headers],
        cxx_std=17,
        extra_compile_args=[*OPTIMISE, *flags],
    )


cpp_extensions = [
    cpp_extension("ring", headers=("ring_buffer.hpp",)),
    cpp_extension("radial", PLAIN_COMPLEX, headers=("radial_sweep.hpp",)),
    cpp_extension("faultloc", PLAIN_COMPLEX, headers=("fault_locator.hpp",)),
    cpp_extension("wls", PLAIN_COMPLEX, headers=("sparse_ldl.hpp", "wls_estimator.hpp")),
]

setup(
    ext_modules=cythonize(
        cython_extensions,
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
        annotate=bool(os.environ.get("GRIDEDGE_CYTHON_ANNOTATE")),
    )
    + cpp_extensions,
)
