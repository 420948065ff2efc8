// Impedance-based fault location on a radial feeder with sparse voltage measurements.
//
// The feeder is a tree of line sections hanging from the head meter, each a pi model per
// sequence (zero, positive, negative) in per unit; everything else (loads, transformers and
// the grids behind them, lines open at one end) is folded into admittances to earth by the
// caller once per topology. For one fault the locator
//   1. walks the sections from the head carrying the sequence voltage and the current into
//      each section, for the during-fault and the pre-fault phasors (load compensation);
//   2. finds on every section each fraction x in [0, 1] where the fault loop is resistive,
//      Im(V_loop conj(I_loop)) = 0, with I the superimposed fault current at x (Takagi);
//   3. predicts the sequence voltages at the scoring meters, V_i = V_i,pre - Z_i,f I_f, and
//      sums the squared differences of the phase-voltage magnitudes from the measured ones.
// The numpy twin, gridedge/_twin/faultloc.py, evaluates the same formulas in the same order.
// Plain C++17, no Python.
#pragma once

#include <array>
#include <cmath>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace gridedge {

using Complex = std::complex<double>;
using Sequence = std::array<Complex, 3>;  // zero, positive, negative

// Head-meter sequence voltage and current into the head section.
struct HeadPhasors {
  Sequence voltage;
  Sequence current;
};

struct FaultCandidate {
  std::int64_t section;
  double fraction;        // along the section from its sending bus, [0, 1]
  double resistance;      // fault resistance, p.u.
  Sequence current;       // sequence currents into the fault, p.u.
  double mismatch;        // sum of squared magnitude differences at the meters, p.u.^2
  std::int64_t observed;  // magnitudes in the sum
};

class FaultLocator {
 public:
  // Arrays are row-major: per-section ones (n x 3), transfer (3 x meters x ends).
  FaultLocator(std::vector<std::int64_t> parent, std::vector<Complex> series,
               std::vector<Complex> half_shunt, std::vector<Complex> side, std::vector<Complex> end,
               std::vector<std::int64_t> from_end, std::vector<std::int64_t> to_end,
               std::vector<Complex> transfer, std::size_t meters, std::size_t ends, int samples,
               int iterations)
      : parent_(std::move(parent)),
        series_(std::move(series)),
        half_shunt_(std::move(half_shunt)),
        side_(std::move(side)),
        end_(std::move(end)),
        from_end_(std::move(from_end)),
        to_end_(std::move(to_end)),
        transfer_(std::move(transfer)),
        meters_(meters),
        ends_(ends),
        samples_(samples),
        iterations_(iterations) {
    const std::size_t n = parent_.size();
    if (n == 0) throw std::invalid_argument("a feeder needs at least one section");
    if (series_.size() != 3 * n || half_shunt_.size() != 3 * n || side_.size() != 3 * n ||
        end_.size() != 3 * n || from_end_.size() != n || to_end_.size() != n) {
      throw std::invalid_argument("per-section arrays must all describe the same sections");
    }
    if (transfer_.size() != 3 * meters_ * ends_) {
      throw std::invalid_argument("transfer must have 3 x meters x ends entries");
    }
    for (std::size_t k = 0; k < n; ++k) {
      const bool parent_ok =
          k == 0 ? parent_[k] == -1 : parent_[k] >= 0 && parent_[k] < static_cast<std::int64_t>(k);
      if (!parent_ok) {
        throw std::invalid_argument(
            "parent must be -1 for section 0 and point backwards otherwise");
      }
      const auto e = static_cast<std::int64_t>(ends_);
      if (from_end_[k] < 0 || from_end_[k] >= e || to_end_[k] < -1 || to_end_[k] >= e) {
        throw std::invalid_argument("from_end and to_end must index " + std::to_string(ends_) +
                                    " end buses");
      }
    }
    if (samples_ < 1 || iterations_ < 1) {
      throw std::invalid_argument("samples and iterations must be positive");
    }
  }

  std::size_t sections() const noexcept { return parent_.size(); }
  std::size_t meters() const noexcept { return meters_; }

  // `measured` holds meters x 3 phase-voltage magnitudes (NaN = missing), `meter_prefault`
  // the positive-sequence pre-fault voltage of each meter's bus. `phases` has bit p set for
  // each faulted phase (1 = a, 2 = b, 4 = c).
  std::vector<FaultCandidate> locate(const HeadPhasors& during, const HeadPhasors& prefault,
                                     int phases, bool earthed, const double* measured,
                                     const Complex* meter_prefault) const {
    const std::size_t n = sections();
    std::vector<Start> start(n);
    start[0] = Start{{during, prefault}};
    for (std::size_t k = 1; k < n; ++k) {
      const auto p = static_cast<std::size_t>(parent_[k]);
      for (int set = 0; set < 2; ++set) {
        HeadPhasors far = along(p, 1.0, start[p].sets[set]);
        for (int s = 0; s < 3; ++s) far.current[s] -= side_[3 * k + s] * far.voltage[s];
        start[k].sets[set] = far;
      }
    }
    const Loop loop = loop_of(phases, earthed);
    std::vector<FaultCandidate> found;
    std::vector<double> values(static_cast<std::size_t>(samples_) + 1);
    for (std::size_t k = 0; k < n; ++k) {
      for (int j = 0; j <= samples_; ++j) {
        values[j] = residual(k, start[k], grid(j), loop);
      }
      for (int j = 0; j < samples_; ++j) {
        const bool low_positive = values[j] >= 0;
        if (low_positive == (values[j + 1] >= 0)) continue;
        double low = grid(j), high = grid(j + 1);
        for (int step = 0; step < iterations_; ++step) {
          const double middle = 0.5 * (low + high);
          if ((residual(k, start[k], middle, loop) >= 0) == low_positive) {
            low = middle;
          } else {
            high = middle;
          }
        }
        found.push_back(candidate(k, start[k], 0.5 * (low + high), loop, measured, meter_prefault));
      }
    }
    return found;
  }

 private:
  struct Start {
    std::array<HeadPhasors, 2> sets;  // during, pre-fault
  };
  struct Point {
    Sequence voltage;  // during the fault
    Sequence current;  // superimposed fault current
  };
  struct Loop {
    int first = -1, second = -1;  // faulted phases; both -1 for a three-phase fault
    double factor = 1.0;          // loop resistance to fault resistance
  };

  double grid(int j) const { return static_cast<double>(j) / samples_; }

  static Complex phase(const Sequence& sequence, int p) {
    // Rows of the sequence-to-phase matrix: a = 1 + 1 + 1, b = 1 + a^2 + a, c = 1 + a + a^2.
    static const Complex a = std::polar(1.0, 2.0 * std::acos(-1.0) / 3.0);
    static const std::array<std::array<Complex, 3>, 3> to_phase{
        {{Complex(1.0), Complex(1.0), Complex(1.0)},
         {Complex(1.0), a * a, a},
         {Complex(1.0), a, a * a}}};
    Complex sum = 0.0;
    for (int s = 0; s < 3; ++s) sum += to_phase[p][s] * sequence[s];
    return sum;
  }

  static Loop loop_of(int phases, bool earthed) {
    Loop loop;
    int count = 0;
    for (int p = 0; p < 3; ++p) {
      if (!(phases >> p & 1)) continue;
      (count == 0 ? loop.first : loop.second) = p;
      ++count;
    }
    if (count == 3) return Loop{};
    if (count == 2 && !earthed) loop.factor = 2.0;
    return loop;
  }

  static std::pair<Complex, Complex> loop_quantities(const Point& point, const Loop& loop) {
    if (loop.first < 0) return {point.voltage[1], point.current[1]};
    Complex v = phase(point.voltage, loop.first), i = phase(point.current, loop.first);
    if (loop.second >= 0) {
      v -= phase(point.voltage, loop.second);
      i -= phase(point.current, loop.second);
    }
    return {v, i};
  }

  // Pi section k scaled by `share`, from its sending end state to the far end.
  HeadPhasors along(std::size_t k, double share, const HeadPhasors& state) const {
    HeadPhasors far;
    for (int s = 0; s < 3; ++s) {
      const Complex z = series_[3 * k + s] * share, h = half_shunt_[3 * k + s] * share;
      const Complex through = state.current[s] - h * state.voltage[s];
      far.voltage[s] = state.voltage[s] - z * through;
      far.current[s] = through - h * far.voltage[s];
    }
    return far;
  }

  Point fault_point(std::size_t k, const Start& start, double x) const {
    Point point;
    std::array<Sequence, 2> fault_current;
    for (int set = 0; set < 2; ++set) {
      const HeadPhasors at = along(k, x, start.sets[set]);
      for (int s = 0; s < 3; ++s) {
        const Complex rest_series = series_[3 * k + s] * (1.0 - x);
        const Complex rest_shunt = half_shunt_[3 * k + s] * (1.0 - x);
        const Complex terminal = rest_shunt + end_[3 * k + s];
        const Complex beyond = rest_shunt + terminal / (1.0 + rest_series * terminal);
        fault_current[set][s] = at.current[s] - beyond * at.voltage[s];
      }
      if (set == 0) point.voltage = at.voltage;
    }
    for (int s = 0; s < 3; ++s) point.current[s] = fault_current[0][s] - fault_current[1][s];
    return point;
  }

  double residual(std::size_t k, const Start& start, double x, const Loop& loop) const {
    const auto [v, i] = loop_quantities(fault_point(k, start, x), loop);
    return (v * std::conj(i)).imag();
  }

  FaultCandidate candidate(std::size_t k, const Start& start, double x, const Loop& loop,
                           const double* measured, const Complex* meter_prefault) const {
    const Point point = fault_point(k, start, x);
    const auto [v, i] = loop_quantities(point, loop);
    FaultCandidate result{
        static_cast<std::int64_t>(k), x, loop.factor * (v / i).real(), point.current, 0.0, 0};
    const std::size_t near = static_cast<std::size_t>(from_end_[k]);
    const bool closed = to_end_[k] >= 0;
    const std::size_t far = closed ? static_cast<std::size_t>(to_end_[k]) : near;
    const double share = closed ? x : 0.0;
    for (std::size_t m = 0; m < meters_; ++m) {
      Sequence predicted;
      for (int s = 0; s < 3; ++s) {
        const std::size_t row = (static_cast<std::size_t>(s) * meters_ + m) * ends_;
        const Complex z = (1.0 - share) * transfer_[row + near] + share * transfer_[row + far];
        predicted[s] = -z * point.current[s];
      }
      predicted[1] += meter_prefault[m];
      for (int p = 0; p < 3; ++p) {
        const double value = measured[3 * m + p];
        if (std::isnan(value)) continue;
        const double difference = std::abs(phase(predicted, p)) - value;
        result.mismatch += difference * difference;
        ++result.observed;
      }
    }
    return result;
  }

  std::vector<std::int64_t> parent_;
  std::vector<Complex> series_, half_shunt_, side_, end_;
  std::vector<std::int64_t> from_end_, to_end_;
  std::vector<Complex> transfer_;
  std::size_t meters_, ends_;
  int samples_, iterations_;
};

}  // namespace gridedge
