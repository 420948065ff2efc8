// Python binding of gridedge::wls::Estimator. Validates with the GIL held, computes without it.
#include <pybind11/complex.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <complex>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "gridedge/wls_estimator.hpp"

namespace py = pybind11;
using gridedge::wls::complex;

namespace {

using Ints = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;
using Reals = py::array_t<double, py::array::c_style | py::array::forcecast>;
using Complexes = py::array_t<complex, py::array::c_style | py::array::forcecast>;
using Bools = py::array_t<bool, py::array::c_style | py::array::forcecast>;

// The data of a one-dimensional `array` of length `size`.
template <class Array>
const auto* data_of(const Array& array, py::ssize_t size, const char* name) {
  if (array.ndim() != 1 || array.shape(0) != size) {
    throw py::value_error(std::string(name) + " must be one-dimensional of length " +
                          std::to_string(size) + ", got shape " +
                          (array.ndim() == 1 ? std::to_string(array.shape(0))
                                             : "of ndim " + std::to_string(array.ndim())));
  }
  return array.data();
}

template <class T, class Array>
std::vector<T> vector_of(const Array& array, py::ssize_t size, const char* name) {
  const auto* data = data_of(array, size, name);
  return std::vector<T>(data, data + size);
}

gridedge::wls::Quantities quantities_of(const Ints& kind, const Ints& node, const Ints& branch,
                                        const Ints& end) {
  const py::ssize_t m = kind.ndim() == 1 ? kind.shape(0) : -1;
  if (m < 0) throw py::value_error("kind must be one-dimensional");
  gridedge::wls::Quantities q;
  q.kind = vector_of<int>(kind, m, "kind");
  q.node = vector_of<int>(node, m, "node");
  q.branch = vector_of<int>(branch, m, "branch");
  q.end = vector_of<int>(end, m, "end");
  return q;
}

py::object convergence_error() {
  return py::module_::import("gridedge.errors").attr("ConvergenceError");
}

class Solver {
 public:
  Solver(long long n_node, const Ints& y_ptr, const Ints& y_idx, const Complexes& y_val,
         const Ints& from_node, const Ints& to_node, const Complexes& two_port,
         const Ints& fixed_angle, const Ints& kind, const Ints& node, const Ints& branch,
         const Ints& end, const Ints& group_ptr) {
    if (n_node <= 0) throw py::value_error("n_node must be positive");
    gridedge::wls::Network net;
    net.n_node = static_cast<int>(n_node);
    net.y_ptr = vector_of<int>(y_ptr, n_node + 1, "y_ptr");
    if (net.y_ptr.front() != 0 || !std::is_sorted(net.y_ptr.begin(), net.y_ptr.end())) {
      throw py::value_error("y_ptr must start at 0 and never decrease");
    }
    const py::ssize_t nnz = net.y_ptr.back();
    net.y_idx = vector_of<int>(y_idx, nnz, "y_idx");
    net.y_val = vector_of<complex>(y_val, nnz, "y_val");
    for (int idx : net.y_idx) {
      if (idx < 0 || idx >= net.n_node) throw py::value_error("y_idx holds a node out of range");
    }
    const py::ssize_t n_branch = from_node.ndim() == 1 ? from_node.shape(0) : -1;
    net.from = vector_of<int>(from_node, n_branch, "from_node");
    net.to = vector_of<int>(to_node, n_branch, "to_node");
    for (const std::vector<int>* ends : {&net.from, &net.to}) {
      for (int k : *ends) {
        if (k < -1 || k >= net.n_node) {
          throw py::value_error("from_node and to_node must hold nodes or -1 (an open end)");
        }
      }
    }
    if (two_port.ndim() != 2 || two_port.shape(0) != n_branch || two_port.shape(1) != 4) {
      throw py::value_error("two_port must have shape (n_branch, 4)");
    }
    net.two_port.assign(two_port.data(), two_port.data() + 4 * n_branch);
    const std::vector<std::int64_t> fixed =
        vector_of<std::int64_t>(fixed_angle, n_node, "fixed_angle");
    net.fixed_angle.assign(fixed.begin(), fixed.end());
    gridedge::wls::Quantities measured = quantities_of(kind, node, branch, end);
    std::vector<int> groups =
        vector_of<int>(group_ptr, group_ptr.ndim() == 1 ? group_ptr.shape(0) : -1, "group_ptr");
    if (groups.empty() || groups.front() != 0 ||
        groups.back() != static_cast<int>(measured.size())) {
      throw py::value_error("group_ptr must run from 0 to the number of measurements");
    }
    for (std::size_t g = 0; g + 1 < groups.size(); ++g) {
      if (groups[g + 1] <= groups[g]) throw py::value_error("group_ptr must increase strictly");
    }
    try {
      py::gil_scoped_release release;
      estimator_ =
          std::make_unique<gridedge::wls::Estimator>(std::move(net), measured, std::move(groups));
    } catch (const std::invalid_argument& exc) {
      throw py::value_error(exc.what());
    }
  }

  std::tuple<int, int, double, int, double> solve(const Reals& values, const Reals& covariance,
                                                  const Bools& active, const Reals& vm,
                                                  const Reals& va, double tolerance,
                                                  double tolerance_sd, int max_iterations,
                                                  double pivot_tolerance, double min_current,
                                                  double max_magnitude, bool check_observability) {
    auto& e = *estimator_;
    const auto m = static_cast<py::ssize_t>(e.n_measurement());
    const double* z = data_of(values, m, "values");
    const double* c = data_of(covariance, static_cast<py::ssize_t>(e.weight_size()), "covariance");
    const bool* used = data_of(active, m, "active");
    const double* m0 = data_of(vm, e.n_node(), "vm");
    const double* a0 = data_of(va, e.n_node(), "va");
    if (!(tolerance > 0.0)) throw py::value_error("tolerance must be positive");
    if (max_iterations <= 0) throw py::value_error("max_iterations must be positive");
    if (!(tolerance_sd >= 0.0)) throw py::value_error("tolerance_sd must not be negative");
    gridedge::wls::Settings settings{tolerance,       tolerance_sd, max_iterations,
                                     pivot_tolerance, min_current,  max_magnitude};
    gridedge::wls::Report report;
    {
      py::gil_scoped_release release;
      report = e.solve(z, c, used, m0, a0, settings, check_observability);
    }
    // Where the status points: the bad group for kBadCovariance, else a node (or -1).
    const int where = report.status == gridedge::wls::kBadCovariance ? report.group
                      : report.state >= 0                            ? e.node_of_state(report.state)
                                                                     : -1;
    return {report.status, report.iterations, report.step, where, report.objective};
  }

  py::array_t<double> vm() const { return copy(estimator_->voltage_magnitude()); }
  py::array_t<double> va() const { return copy(estimator_->voltage_angle()); }
  py::array_t<double> estimates() const { return copy(estimator_->estimates()); }

  py::array_t<std::int64_t> unobservable_nodes() const {
    std::vector<int> nodes;
    {
      py::gil_scoped_release release;
      nodes = estimator_->unobservable_nodes();
    }
    py::array_t<std::int64_t> out(static_cast<py::ssize_t>(nodes.size()));
    std::copy(nodes.begin(), nodes.end(), out.mutable_data());
    return out;
  }

  py::array_t<double> measurement_variance() {
    py::array_t<double> out(static_cast<py::ssize_t>(estimator_->n_measurement()));
    double* data = out.mutable_data();
    bool ok = false;
    {
      py::gil_scoped_release release;
      ok = estimator_->measurement_variance(data);
    }
    if (!ok) raise_singular();
    return out;
  }

  std::pair<py::array_t<double>, py::array_t<double>> state_variance() {
    py::array_t<double> angle(estimator_->n_node());
    py::array_t<double> magnitude(estimator_->n_node());
    double* a = angle.mutable_data();
    double* m = magnitude.mutable_data();
    bool ok = false;
    {
      py::gil_scoped_release release;
      ok = estimator_->state_variance(a, m);
    }
    if (!ok) raise_singular();
    return {angle, magnitude};
  }

  std::pair<py::array_t<double>, py::array_t<double>> derived(const Ints& kind, const Ints& node,
                                                              const Ints& branch, const Ints& end) {
    const gridedge::wls::Quantities q = quantities_of(kind, node, branch, end);
    const auto k = static_cast<py::ssize_t>(q.size());
    py::array_t<double> values(k);
    py::array_t<double> covariance({k, k});
    double* v = values.mutable_data();
    double* c = covariance.mutable_data();
    bool ok = false;
    try {
      py::gil_scoped_release release;
      ok = estimator_->derived(q, v, c);
    } catch (const std::invalid_argument& exc) {
      throw py::value_error(exc.what());
    }
    if (!ok) raise_singular();
    return {values, covariance};
  }

  int n_node() const { return estimator_->n_node(); }
  int n_state() const { return estimator_->n_state(); }
  std::size_t n_measurement() const { return estimator_->n_measurement(); }
  std::size_t weight_size() const { return estimator_->weight_size(); }
  std::size_t factor_nonzeros() const { return estimator_->factor_nonzeros(); }
  std::size_t memory_bytes() const { return estimator_->memory_bytes(); }

 private:
  static py::array_t<double> copy(const std::vector<double>& values) {
    py::array_t<double> out(static_cast<py::ssize_t>(values.size()));
    std::copy(values.begin(), values.end(), out.mutable_data());
    return out;
  }

  [[noreturn]] static void raise_singular() {
    PyErr_SetString(convergence_error().ptr(), "the gain matrix is singular at the estimate");
    throw py::error_already_set();
  }

  std::unique_ptr<gridedge::wls::Estimator> estimator_;
};

}  // namespace

PYBIND11_MODULE(wls, m) {
  m.doc() = "Compiled weighted-least-squares state estimator (see gridedge.meter.estimation).";
  py::class_<Solver>(m, "Solver")
      .def(py::init<long long, const Ints&, const Ints&, const Complexes&, const Ints&, const Ints&,
                    const Complexes&, const Ints&, const Ints&, const Ints&, const Ints&,
                    const Ints&, const Ints&>(),
           py::arg("n_node"), py::arg("y_ptr"), py::arg("y_idx"), py::arg("y_val"),
           py::arg("from_node"), py::arg("to_node"), py::arg("two_port"), py::arg("fixed_angle"),
           py::arg("kind"), py::arg("node"), py::arg("branch"), py::arg("end"),
           py::arg("group_ptr"))
      .def("solve", &Solver::solve, py::arg("values"), py::arg("covariance"), py::arg("active"),
           py::arg("vm"), py::arg("va"), py::arg("tolerance"), py::arg("tolerance_sd"),
           py::arg("max_iterations"), py::arg("pivot_tolerance"), py::arg("min_current"),
           py::arg("max_magnitude"), py::arg("check_observability") = true)
      .def_property_readonly("vm", &Solver::vm)
      .def_property_readonly("va", &Solver::va)
      .def("estimates", &Solver::estimates)
      .def("unobservable_nodes", &Solver::unobservable_nodes)
      .def("measurement_variance", &Solver::measurement_variance)
      .def("state_variance", &Solver::state_variance)
      .def("derived", &Solver::derived, py::arg("kind"), py::arg("node"), py::arg("branch"),
           py::arg("end"))
      .def_property_readonly("n_node", &Solver::n_node)
      .def_property_readonly("n_state", &Solver::n_state)
      .def_property_readonly("n_measurement", &Solver::n_measurement)
      .def_property_readonly("weight_size", &Solver::weight_size)
      .def_property_readonly("factor_nonzeros", &Solver::factor_nonzeros)
      .def_property_readonly("memory_bytes", &Solver::memory_bytes);
}
