"""Compiled kernels (Cython and C++ through pybind11). Private: use :mod:`gridedge.kernels`."""
