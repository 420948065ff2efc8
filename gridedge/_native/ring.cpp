// Python binding of gridedge::SampleRing. Validates with the GIL held, copies without it.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "gridedge/ring_buffer.hpp"

namespace py = pybind11;

namespace {

using Rows = py::array_t<double, py::array::c_style>;

std::size_t write_rows(gridedge::SampleRing& ring, const py::array& samples) {
  if (samples.ndim() != 2 || static_cast<std::size_t>(samples.shape(1)) != ring.channels()) {
    throw py::value_error("samples must have shape (n, " + std::to_string(ring.channels()) +
                          "), got ndim " + std::to_string(samples.ndim()));
  }
  if (!py::isinstance<Rows>(samples)) {
    throw py::type_error("samples must be a C-contiguous float64 array");
  }
  const auto rows = py::reinterpret_borrow<Rows>(samples);
  const double* data = rows.data();
  const auto n_rows = static_cast<std::size_t>(rows.shape(0));
  py::gil_scoped_release release;
  return ring.write(data, n_rows);
}

std::pair<std::uint64_t, py::object> read_rows(gridedge::SampleRing& ring, py::object max_samples) {
  std::size_t limit = std::numeric_limits<std::size_t>::max();
  if (!max_samples.is_none()) {
    const auto requested = max_samples.cast<long long>();
    if (requested < 0) throw py::value_error("max_samples must not be negative");
    limit = static_cast<std::size_t>(requested);
  }
  const std::size_t ready = std::min(ring.available(), limit);
  Rows out({static_cast<py::ssize_t>(ready), static_cast<py::ssize_t>(ring.channels())});
  double* data = out.mutable_data();
  std::uint64_t first = 0;
  std::size_t got = 0;
  {
    py::gil_scoped_release release;
    got = ring.read(data, ready, first);
  }
  if (got < ready) return {first, out[py::slice(0, static_cast<py::ssize_t>(got), 1)]};
  return {first, std::move(out)};
}

}  // namespace

PYBIND11_MODULE(ring, m) {
  m.doc() = "Compiled single-producer/single-consumer sample ring (see gridedge.meter.ring).";
  py::class_<gridedge::SampleRing>(m, "SampleRing")
      .def(py::init([](long long capacity, long long channels) {
             if (capacity <= 0) throw py::value_error("capacity must be positive");
             if (channels <= 0) throw py::value_error("channels must be positive");
             return new gridedge::SampleRing(static_cast<std::size_t>(capacity),
                                             static_cast<std::size_t>(channels));
           }),
           py::arg("capacity"), py::arg("channels") = 6)
      .def("write", &write_rows, py::arg("samples"),
           "Store rows of a (n, channels) float64 array; return how many fit (the rest are "
           "dropped and counted). Producer thread only.")
      .def(
          "skip",
          [](gridedge::SampleRing& ring, long long n_rows) {
            if (n_rows < 0) throw py::value_error("n_rows must not be negative");
            ring.skip(static_cast<std::uint64_t>(n_rows));
          },
          py::arg("n_rows"),
          "Advance the index of the next row by n_rows without storing rows: samples the "
          "source lost. Producer thread only.")
      .def("read", &read_rows, py::arg("max_samples") = py::none(),
           "Return (first_index, rows): consecutive samples, at most max_samples, never across "
           "a gap. Consumer thread only.")
      .def_property_readonly("capacity", &gridedge::SampleRing::capacity)
      .def_property_readonly("channels", &gridedge::SampleRing::channels)
      .def_property_readonly("available", &gridedge::SampleRing::available)
      .def_property_readonly("offered", &gridedge::SampleRing::offered)
      .def_property_readonly("dropped", &gridedge::SampleRing::dropped)
      .def_property_readonly("overruns", &gridedge::SampleRing::overruns);
}
