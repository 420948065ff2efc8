// Python binding of gridedge::FaultLocator. Validates with the GIL held, locates without it.
#include <pybind11/complex.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gridedge/fault_locator.hpp"

namespace py = pybind11;

namespace {

using gridedge::Complex;
using ComplexArray = py::array_t<Complex, py::array::c_style>;
using IndexArray = py::array_t<std::int64_t, py::array::c_style>;
using RealArray = py::array_t<double, py::array::c_style>;

std::string shape_of(const py::array& array) {
  std::string text = "(";
  for (py::ssize_t d = 0; d < array.ndim(); ++d) {
    text += (d ? ", " : "") + std::to_string(array.shape(d));
  }
  return text + (array.ndim() == 1 ? ",)" : ")");
}

// Checks dtype (exactly, no conversion) and shape; a negative expected extent accepts any.
template <typename Array>
Array checked(const py::array& array, const char* name, const char* dtype,
              std::vector<py::ssize_t> shape) {
  bool ok = py::isinstance<Array>(array) && array.ndim() == static_cast<py::ssize_t>(shape.size());
  for (std::size_t d = 0; ok && d < shape.size(); ++d) {
    ok = shape[d] < 0 || array.shape(static_cast<py::ssize_t>(d)) == shape[d];
  }
  if (!ok) {
    throw py::value_error(std::string(name) + " must be a C-contiguous " + dtype +
                          " array of matching shape, got " + std::string(py::str(array.dtype())) +
                          " " + shape_of(array));
  }
  return py::reinterpret_borrow<Array>(array);
}

template <typename T, typename Array>
std::vector<T> copy(const Array& array) {
  return std::vector<T>(array.data(), array.data() + array.size());
}

gridedge::HeadPhasors head(const py::array& array, const char* name) {
  const auto rows = checked<ComplexArray>(array, name, "complex128", {2, 3});
  gridedge::HeadPhasors result;
  for (int s = 0; s < 3; ++s) {
    result.voltage[s] = rows.at(0, s);
    result.current[s] = rows.at(1, s);
  }
  return result;
}

gridedge::FaultLocator make_locator(const py::array& parent, const py::array& series,
                                    const py::array& half_shunt, const py::array& side,
                                    const py::array& end, const py::array& from_end,
                                    const py::array& to_end, const py::array& end_impedance,
                                    const py::array& transfer, const py::array& head_transfer,
                                    const py::array& head_ratio, int samples, int iterations) {
  const auto parents = checked<IndexArray>(parent, "parent", "int64", {-1});
  const py::ssize_t n = parents.shape(0);
  const auto transfers = checked<ComplexArray>(transfer, "transfer", "complex128", {3, -1, -1});
  const py::ssize_t m = transfers.shape(1), e = transfers.shape(2);
  try {
    return gridedge::FaultLocator(
        copy<std::int64_t>(parents),
        copy<Complex>(checked<ComplexArray>(series, "series", "complex128", {n, 3})),
        copy<Complex>(checked<ComplexArray>(half_shunt, "half_shunt", "complex128", {n, 3})),
        copy<Complex>(checked<ComplexArray>(side, "side", "complex128", {n, 3})),
        copy<Complex>(checked<ComplexArray>(end, "end", "complex128", {n, 3})),
        copy<std::int64_t>(checked<IndexArray>(from_end, "from_end", "int64", {n})),
        copy<std::int64_t>(checked<IndexArray>(to_end, "to_end", "int64", {n})),
        copy<Complex>(
            checked<ComplexArray>(end_impedance, "end_impedance", "complex128", {n, 3, 4})),
        copy<Complex>(transfers),
        copy<Complex>(checked<ComplexArray>(head_transfer, "head_transfer", "complex128", {3, e})),
        copy<Complex>(checked<ComplexArray>(head_ratio, "head_ratio", "complex128", {3, m})),
        static_cast<std::size_t>(m), static_cast<std::size_t>(e), samples, iterations);
  } catch (const std::invalid_argument& error) {
    throw py::value_error(error.what());
  }
}

// A positive finite number, or the error naming it.
void positive(double value, const std::string& name) {
  if (!(std::isfinite(value) && value > 0)) {
    throw py::value_error(name + " must be > 0, got " + std::to_string(value));
  }
}

py::tuple locate(const gridedge::FaultLocator& locator, const py::array& during,
                 const py::array& prefault, int phases, bool earthed, const py::array& measured,
                 const py::array& weight, const py::array& meter_prefault,
                 const py::array& head_weight, const py::array& current_weight,
                 const py::array& current_share, double voltage_variance, double voltage_share,
                 double source_weight, double reactance_weight) {
  const gridedge::HeadPhasors during_set = head(during, "during");
  const gridedge::HeadPhasors prefault_set = head(prefault, "prefault");
  const auto m = static_cast<py::ssize_t>(locator.meters());
  const auto magnitudes = checked<RealArray>(measured, "measured", "float64", {m, 3});
  const auto weights = checked<RealArray>(weight, "weight", "float64", {m, 3});
  const auto meter_voltage =
      checked<ComplexArray>(meter_prefault, "meter_prefault", "complex128", {m});
  const bool single = phases == 1 || phases == 2 || phases == 4;
  if (phases < 1 || phases > 7 || (single && !earthed)) {
    throw py::value_error("phases " + std::to_string(phases) +
                          " with earthed=" + (earthed ? "True" : "False") + " is not a fault kind");
  }
  const auto heads = checked<RealArray>(head_weight, "head_weight", "float64", {3});
  const auto currents = checked<RealArray>(current_weight, "current_weight", "float64", {2});
  for (int p = 0; p < 3; ++p) positive(heads.at(p), "head_weight");
  for (int d = 0; d < 2; ++d) positive(currents.at(d), "current_weight");
  const auto shares = checked<RealArray>(current_share, "current_share", "float64", {2});
  const bool shared = shares.at(0) >= 0 && shares.at(0) <= 1 && shares.at(1) >= 0 &&
                      shares.at(1) <= 1 && voltage_share >= 0 && voltage_share <= 1;
  if (!shared) throw py::value_error("current_share and voltage_share must lie in [0, 1]");
  if (!(std::isfinite(voltage_variance) && voltage_variance >= 0)) {
    throw py::value_error("voltage_variance must be >= 0, got " + std::to_string(voltage_variance));
  }
  positive(source_weight, "source_weight");
  positive(reactance_weight, "reactance_weight");
  for (py::ssize_t i = 0; i < weights.size(); ++i) {
    const double value = weights.data()[i];
    if (!(std::isfinite(value) && value >= 0)) {
      throw py::value_error("weight must be finite and >= 0");
    }
  }
  const gridedge::Measurements meters{magnitudes.data(),
                                      weights.data(),
                                      meter_voltage.data(),
                                      {heads.at(0), heads.at(1), heads.at(2)},
                                      {currents.at(0), currents.at(1)},
                                      {shares.at(0), shares.at(1)},
                                      voltage_variance,
                                      voltage_share,
                                      source_weight,
                                      reactance_weight};
  std::vector<gridedge::FaultCandidate> found;
  {
    py::gil_scoped_release release;
    found = locator.locate(during_set, prefault_set, phases, earthed, meters);
  }
  const auto k = static_cast<py::ssize_t>(found.size());
  IndexArray section(k);
  RealArray fraction(k), resistance(k), cost(k), reactance(k), mismatch(k), spread(k);
  ComplexArray current({k, static_cast<py::ssize_t>(3)});
  for (py::ssize_t c = 0; c < k; ++c) {
    const auto& item = found[static_cast<std::size_t>(c)];
    section.mutable_at(c) = item.section;
    fraction.mutable_at(c) = item.fraction;
    resistance.mutable_at(c) = item.resistance;
    cost.mutable_at(c) = item.cost;
    reactance.mutable_at(c) = item.reactance;
    mismatch.mutable_at(c) = item.mismatch;
    spread.mutable_at(c) = item.spread;
    for (int s = 0; s < 3; ++s) current.mutable_at(c, s) = item.current[s];
  }
  return py::make_tuple(section, fraction, resistance, current, cost, reactance, mismatch, spread);
}

}  // namespace

PYBIND11_MODULE(faultloc, m) {
  m.doc() = "Compiled impedance-based fault location (see gridedge.meter.faults.location).";
  py::class_<gridedge::FaultLocator>(m, "FeederKernel")
      .def(py::init(&make_locator), py::arg("parent"), py::arg("series"), py::arg("half_shunt"),
           py::arg("side"), py::arg("end"), py::arg("from_end"), py::arg("to_end"),
           py::arg("end_impedance"), py::arg("transfer"), py::arg("head_transfer"),
           py::arg("head_ratio"), py::arg("samples"), py::arg("iterations"))
      .def_property_readonly("sections", &gridedge::FaultLocator::sections)
      .def_property_readonly("meters", &gridedge::FaultLocator::meters)
      .def("locate", &locate, py::arg("during"), py::arg("prefault"), py::arg("phases"),
           py::arg("earthed"), py::arg("measured"), py::arg("weight"), py::arg("meter_prefault"),
           py::arg("head_weight"), py::arg("current_weight"), py::arg("current_share"),
           py::arg("voltage_variance"), py::arg("voltage_share"), py::arg("source_weight"),
           py::arg("reactance_weight"),
           "Return (section, fraction, resistance, current, cost, reactance, mismatch, spread) of "
           "every "
           "local minimum of the score; see gridedge._twin.faultloc.FeederKernel.locate.");
}
