// Python binding of gridedge::radial_sweep. Validates with the GIL held, solves without it.
#include <pybind11/complex.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <tuple>

#include "gridedge/radial_sweep.hpp"

namespace py = pybind11;

namespace {

using Index = py::array_t<std::int64_t, py::array::c_style>;
using Values = py::array_t<std::complex<double>, py::array::c_style>;

template <typename Array>
Array checked(const py::array& given, const char* name, py::ssize_t ndim) {
  if (!py::isinstance<Array>(given)) {
    throw py::type_error(std::string(name) + " must be a C-contiguous " +
                         (std::is_same_v<Array, Index> ? "int64" : "complex128") + " array");
  }
  if (given.ndim() != ndim) {
    throw py::value_error(std::string(name) + " must have " + std::to_string(ndim) +
                          " dimension(s), got " + std::to_string(given.ndim()));
  }
  return py::reinterpret_borrow<Array>(given);
}

void check_range(const Index& index, const char* name, py::ssize_t n_vertices) {
  const std::int64_t* data = index.data();
  for (py::ssize_t i = 0; i < index.shape(0); ++i) {
    if (data[i] < 0 || data[i] >= n_vertices) {
      throw py::value_error(std::string(name) + "[" + std::to_string(i) +
                            "] = " + std::to_string(data[i]) + " is not a vertex (0 to " +
                            std::to_string(n_vertices - 1) + ")");
    }
  }
}

std::tuple<Values, int, std::string> sweep(const py::array& edge_a, const py::array& edge_b,
                                           const py::array& coefficients, const py::array& slack,
                                           const py::array& slack_voltage, const py::array& load,
                                           double tolerance, int max_iterations) {
  const auto a = checked<Index>(edge_a, "edge_a", 1);
  const auto b = checked<Index>(edge_b, "edge_b", 1);
  const auto coef = checked<Values>(coefficients, "coefficients", 3);
  const auto roots = checked<Index>(slack, "slack", 1);
  const auto held = checked<Values>(slack_voltage, "slack_voltage", 1);
  const auto power = checked<Values>(load, "load", 1);
  const py::ssize_t n = power.shape(0);
  const py::ssize_t m = a.shape(0);
  if (b.shape(0) != m || coef.shape(0) != m || coef.shape(1) != 2 || coef.shape(2) != 4) {
    throw py::value_error("edge_b and coefficients must have shapes (m,) and (m, 2, 4) for " +
                          std::to_string(m) + " edges");
  }
  if (held.shape(0) != roots.shape(0)) {
    throw py::value_error("slack and slack_voltage must have the same length");
  }
  if (!(tolerance > 0.0) || max_iterations < 1) {
    throw py::value_error("tolerance and max_iterations must be positive");
  }
  check_range(a, "edge_a", n);
  check_range(b, "edge_b", n);
  check_range(roots, "slack", n);
  const gridedge::RadialNetwork net{static_cast<std::size_t>(n),
                                    static_cast<std::size_t>(m),
                                    a.data(),
                                    b.data(),
                                    coef.data(),
                                    static_cast<std::size_t>(roots.shape(0)),
                                    roots.data(),
                                    held.data(),
                                    power.data()};
  Values voltage(n);
  std::complex<double>* out = voltage.mutable_data();
  gridedge::SweepResult result{};
  {
    py::gil_scoped_release release;
    result = gridedge::radial_sweep(net, tolerance, max_iterations, out);
  }
  static const char* const kStatus[] = {"converged", "diverged", "meshed"};
  return {voltage, result.iterations, kStatus[static_cast<int>(result.status)]};
}

Index components(py::ssize_t n_vertices, const py::array& edge_a, const py::array& edge_b) {
  const auto a = checked<Index>(edge_a, "edge_a", 1);
  const auto b = checked<Index>(edge_b, "edge_b", 1);
  if (n_vertices < 0) throw py::value_error("n_vertices must not be negative");
  if (b.shape(0) != a.shape(0)) throw py::value_error("edge_a and edge_b differ in length");
  check_range(a, "edge_a", n_vertices);
  check_range(b, "edge_b", n_vertices);
  Index labels(n_vertices);
  std::int64_t* out = labels.mutable_data();
  {
    py::gil_scoped_release release;
    gridedge::connected_components(static_cast<std::size_t>(n_vertices),
                                   static_cast<std::size_t>(a.shape(0)), a.data(), b.data(), out);
  }
  return labels;
}

}  // namespace

PYBIND11_MODULE(radial, m) {
  m.doc() = "Compiled sweep and islands of radial networks (see gridedge._twin.radial).";
  m.def("sweep", &sweep, py::arg("edge_a"), py::arg("edge_b"), py::arg("coefficients"),
        py::arg("slack"), py::arg("slack_voltage"), py::arg("load"), py::arg("tolerance"),
        py::arg("max_iterations"),
        "Return (voltage, iterations, status) of the radial network; status is 'converged', "
        "'diverged' or 'meshed'.");
  m.def("components", &components, py::arg("n_vertices"), py::arg("edge_a"), py::arg("edge_b"),
        "Component number of each vertex, numbered in the order of each component's smallest "
        "vertex.");
}
