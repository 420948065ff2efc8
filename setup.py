"""Declare the compiled extensions; all other metadata lives in pyproject.toml."""

import os

from Cython.Build import cythonize
from pybind11.setup_helpers import Pybind11Extension
from setuptools import Extension, setup

# Portable optimisation only: wheels built here run on other CPUs of the same architecture.
OPTIMISE = ["-O3", "-fno-math-errno"]

cython_extensions = [
    Extension(
        "gridedge._native.phasor",
        ["gridedge/_native/phasor.pyx"],
        extra_compile_args=OPTIMISE,
    ),
]

cpp_extensions = [
    Pybind11Extension(
        "gridedge._native.ring",
        ["gridedge/_native/ring.cpp"],
        include_dirs=["gridedge/_native/include"],
        cxx_std=17,
        extra_compile_args=OPTIMISE,
    ),
    Pybind11Extension(
        "gridedge._native.radial",
        ["gridedge/_native/radial.cpp"],
        include_dirs=["gridedge/_native/include"],
        cxx_std=17,
        # Plain complex arithmetic (no inf/nan recovery in products): the sweep's values are
        # bounded, and the guarded products cost 2.5x the sweep's time.
        extra_compile_args=[*OPTIMISE, "-fcx-limited-range"],
    ),
    Pybind11Extension(
        "gridedge._native.faultloc",
        ["gridedge/_native/faultloc.cpp"],
        include_dirs=["gridedge/_native/include"],
        cxx_std=17,
        # Complex arithmetic without the C99 infinity recovery (no infinities arise there).
        extra_compile_args=[*OPTIMISE, "-fcx-limited-range"],
    ),
    Pybind11Extension(
        "gridedge._native.wls",
        ["gridedge/_native/wls.cpp"],
        include_dirs=["gridedge/_native/include"],
        depends=[
            "gridedge/_native/include/gridedge/sparse_ldl.hpp",
            "gridedge/_native/include/gridedge/wls_estimator.hpp",
        ],
        cxx_std=17,
        # Plain complex products and quotients: our values are finite, and the C99 checks for
        # infinities cost a third of the measurement-function evaluation.
        extra_compile_args=[*OPTIMISE, "-fcx-limited-range"],
    ),
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
