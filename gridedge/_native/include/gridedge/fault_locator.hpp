// Impedance-based fault location on a radial feeder with sparse voltage measurements.
//
// The feeder is a tree of line sections hanging from the head meter, each a pi model per
// sequence (zero, positive, negative) in per unit; everything else (loads, transformers and
// the grids behind them, lines open at one end) is folded into admittances to earth by the
// caller once per topology. For one fault the locator
//   1. walks the sections from the head carrying the sequence voltage and the current into
//      each section, for the during-fault and the pre-fault phasors (load compensation);
//   2. for a point at fraction x of a section computes the voltage there and the fault
//      current (during minus pre-fault: Takagi's superimposed current);
//   3. scores the point: the weighted squares of the fault loop's reactance Im(V/I), zero at
//      a resistive fault, and of the differences between the meters' measured phase-voltage
//      magnitudes and those predicted with the transfer impedances, V_i,pre - Z_i,f I_f;
//   4. minimises the score on every section: a uniform grid, then golden-section search
//      around every grid minimum and every sign change of the reactance.
// The numpy twin, gridedge/_twin/faultloc.py, evaluates the same formulas in the same order.
// Plain C++17, no Python.
#pragma once

#include <algorithm>
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
  double fraction;    // along the section from its sending bus, [0, 1]
  double resistance;  // fault resistance, p.u.
  Sequence current;   // sequence currents into the fault, p.u.
  double cost;        // the score: weighted squares of reactance and magnitude differences
  double reactance;   // loop reactance, p.u.
  double mismatch;    // unweighted sum of squared magnitude differences, p.u.^2
};

// What the meters measured during the fault, and how much to trust it.
struct Measurements {
  const double* magnitude;        // meters x 3 phase-voltage magnitudes, p.u. (NaN = missing)
  const double* weight;           // meters x 3, one over each magnitude's variance
  const Complex* meter_prefault;  // meters: positive-sequence pre-fault voltage, p.u.
  double reactance_weight;        // one over the variance of the loop reactance
  double scale_weight;            // one over the variance of the sags' common complex scale
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

  // Every local minimum of the score on every section. `phases` has bit p set for each
  // faulted phase (1 = a, 2 = b, 4 = c).
  std::vector<FaultCandidate> locate(const HeadPhasors& during, const HeadPhasors& prefault,
                                     int phases, bool earthed, const Measurements& meters) const {
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
    const auto points = static_cast<std::size_t>(samples_) + 1;
    std::vector<double> cost(points);
    std::vector<bool> positive(points), lowest(points);
    for (std::size_t k = 0; k < n; ++k) {
      for (std::size_t j = 0; j < points; ++j) {
        const Score score = evaluate(k, start[k], grid(j), loop, meters);
        cost[j] = score.cost;
        positive[j] = score.reactance >= 0;
      }
      const std::size_t first = found.size();
      for (std::size_t j = 0; j < points; ++j) {
        lowest[j] =
            (j == 0 || cost[j] <= cost[j - 1]) && (j + 1 == points || cost[j] <= cost[j + 1]);
      }
      for (std::size_t j = 0; j < points; ++j) {
        // Around every grid minimum, then across a sign change of the reactance (a sharp
        // minimum may hide between two grid points) unless a grid minimum's interval holds it.
        if (lowest[j]) {
          const double x = golden(k, start[k], grid(j == 0 ? 0 : j - 1),
                                  grid(j + 1 == points ? j : j + 1), loop, meters);
          keep(found, first, k, start[k], x, loop, meters);
        }
        if (j + 1 < points && positive[j] != positive[j + 1] && !lowest[j] && !lowest[j + 1]) {
          const double x = golden(k, start[k], grid(j), grid(j + 1), loop, meters);
          keep(found, first, k, start[k], x, loop, meters);
        }
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
    int phases = 7;               // the fault kind: faulted phases as bits
    bool earthed = false;         // and earth
    int first = -1, second = -1;  // faulted phases; both -1 for a three-phase fault
    double factor = 1.0;          // loop resistance to fault resistance
  };

  struct Score {
    double cost;
    double reactance;
  };

  static constexpr double kGolden = 0.6180339887498949;
  static constexpr double kSamePoint = 1e-6;  // minima of one section closer are one candidate
  static constexpr double kTiny = 1e-12;      // floor of a predicted magnitude, p.u.

  double grid(std::size_t j) const { return static_cast<double>(j) / samples_; }

  // Plain complex division: the library's guards against overflow and infinities that cannot
  // occur here, at several times the cost (magnitudes likewise use sqrt(norm), not hypot).
  static Complex divide(const Complex& a, const Complex& b) {
    return a * std::conj(b) / std::norm(b);
  }

  // Entry (p, s) of the sequence-to-phase matrix: rows a = 1, 1, 1; b = 1, a^2, a;
  // c = 1, a, a^2.
  static Complex to_phase(int p, int s) {
    static const Complex a = std::polar(1.0, 2.0 * std::acos(-1.0) / 3.0);
    static const std::array<std::array<Complex, 3>, 3> matrix{
        {{Complex(1.0), Complex(1.0), Complex(1.0)},
         {Complex(1.0), a * a, a},
         {Complex(1.0), a, a * a}}};
    return matrix[p][s];
  }

  static Complex phase(const Sequence& sequence, int p) {
    Complex sum = 0.0;
    for (int s = 0; s < 3; ++s) sum += to_phase(p, s) * sequence[s];
    return sum;
  }

  static Loop loop_of(int phases, bool earthed) {
    Loop loop;
    loop.phases = phases;
    loop.earthed = earthed;
    int count = 0;
    for (int p = 0; p < 3; ++p) {
      if (!(phases >> p & 1)) continue;
      (count == 0 ? loop.first : loop.second) = p;
      ++count;
    }
    if (count == 3) return Loop{phases, earthed};
    if (count == 2 && !earthed) loop.factor = 2.0;
    return loop;
  }

  // Sequence fault currents reduced to what the fault kind lets flow: nothing in a healthy
  // phase, opposite currents in a two-phase fault without earth, the positive sequence only
  // in a three-phase fault (noise in the other components would sag the predicted voltages
  // unevenly).
  static Sequence project(const Sequence& current, int phases, bool earthed) {
    if (phases == 7) return Sequence{Complex(0.0), current[1], Complex(0.0)};
    std::array<Complex, 3> phase_current{};
    int first = -1, second = -1;
    for (int p = 0; p < 3; ++p) {
      if (!(phases >> p & 1)) continue;
      phase_current[p] = phase(current, p);
      (first < 0 ? first : second) = p;
    }
    if (second >= 0 && !earthed) {
      const Complex half = 0.5 * (phase_current[first] - phase_current[second]);
      phase_current[first] = half;
      phase_current[second] = -half;
    }
    // Back to sequences: row s of the phase-to-sequence matrix is the conjugate of column s
    // of the sequence-to-phase one, over 3.
    Sequence result;
    for (int s = 0; s < 3; ++s) {
      Complex sum = 0.0;
      for (int p = 0; p < 3; ++p) sum += std::conj(to_phase(p, s)) * phase_current[p];
      result[s] = sum / 3.0;
    }
    return result;
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

  Point fault_point(std::size_t k, const Start& start, double x, const Loop& loop) const {
    Point point;
    std::array<Sequence, 2> fault_current;
    for (int set = 0; set < 2; ++set) {
      const HeadPhasors at = along(k, x, start.sets[set]);
      for (int s = 0; s < 3; ++s) {
        const Complex rest_series = series_[3 * k + s] * (1.0 - x);
        const Complex rest_shunt = half_shunt_[3 * k + s] * (1.0 - x);
        const Complex terminal = rest_shunt + end_[3 * k + s];
        const Complex beyond = rest_shunt + divide(terminal, 1.0 + rest_series * terminal);
        fault_current[set][s] = at.current[s] - beyond * at.voltage[s];
      }
      if (set == 0) point.voltage = at.voltage;
    }
    Sequence superimposed;
    for (int s = 0; s < 3; ++s) superimposed[s] = fault_current[0][s] - fault_current[1][s];
    point.current = project(superimposed, loop.phases, loop.earthed);
    return point;
  }

  // For every measured magnitude, the predicted one's residual and its slopes with respect
  // to the real and imaginary parts of a common complex scale of the predicted sags:
  // visit(m, p, residual, slope_u, slope_v).
  template <typename Visit>
  void sags(std::size_t k, double x, const Sequence& current, const Measurements& meters,
            Visit&& visit) const {
    const auto near = static_cast<std::size_t>(from_end_[k]);
    const bool closed = to_end_[k] >= 0;
    const std::size_t far = closed ? static_cast<std::size_t>(to_end_[k]) : near;
    const double share = closed ? x : 0.0;
    for (std::size_t m = 0; m < meters_; ++m) {
      Sequence drop;
      for (int s = 0; s < 3; ++s) {
        const std::size_t row = (static_cast<std::size_t>(s) * meters_ + m) * ends_;
        const Complex z = (1.0 - share) * transfer_[row + near] + share * transfer_[row + far];
        drop[s] = z * current[s];
      }
      for (int p = 0; p < 3; ++p) {
        const double measured = meters.magnitude[3 * m + p];
        if (std::isnan(measured)) continue;
        const Complex sag = phase(drop, p);
        const Complex voltage = to_phase(p, 1) * meters.meter_prefault[m] - sag;
        const double magnitude = std::max(std::sqrt(std::norm(voltage)), kTiny);
        const Complex product = std::conj(voltage) * sag / magnitude;
        visit(m, p, magnitude - measured, -product.real(), product.imag());
      }
    }
  }

  struct SagFit {
    double cost;      // weighted squares at the fitted scale, prior included
    double mismatch;  // unweighted squares at the fitted scale
  };

  // The sags' common scale 1 + u + jv is a nuisance parameter with prior variance
  // 1 / scale_weight; linearised, its least-squares fit is a 2 x 2 solve.
  SagFit fit_sags(std::size_t k, double x, const Sequence& current, const Measurements& meters,
                  bool with_mismatch) const {
    double saa = meters.scale_weight, sab = 0.0, sbb = meters.scale_weight;
    double sar = 0.0, sbr = 0.0, srr = 0.0;
    sags(k, x, current, meters, [&](std::size_t m, int p, double r, double a, double b) {
      const double w = meters.weight[3 * m + p];
      saa += w * a * a;
      sab += w * a * b;
      sbb += w * b * b;
      sar += w * a * r;
      sbr += w * b * r;
      srr += w * r * r;
    });
    const double determinant = saa * sbb - sab * sab;
    const double u = (sab * sbr - sbb * sar) / determinant;
    const double v = (sab * sar - saa * sbr) / determinant;
    SagFit result{srr + u * sar + v * sbr, 0.0};
    if (with_mismatch) {
      sags(k, x, current, meters, [&](std::size_t, int, double r, double a, double b) {
        const double fitted = r + a * u + b * v;
        result.mismatch += fitted * fitted;
      });
    }
    return result;
  }

  Score evaluate(std::size_t k, const Start& start, double x, const Loop& loop,
                 const Measurements& meters) const {
    const Point point = fault_point(k, start, x, loop);
    const auto [v, i] = loop_quantities(point, loop);
    const double reactance = divide(v, i).imag();
    const double cost = meters.reactance_weight * reactance * reactance +
                        fit_sags(k, x, point.current, meters, false).cost;
    return Score{cost, reactance};
  }

  double golden(std::size_t k, const Start& start, double a, double b, const Loop& loop,
                const Measurements& meters) const {
    double c = b - kGolden * (b - a), d = a + kGolden * (b - a);
    double fc = evaluate(k, start, c, loop, meters).cost;
    double fd = evaluate(k, start, d, loop, meters).cost;
    for (int step = 0; step < iterations_; ++step) {
      if (fc < fd) {
        b = d;
        d = c;
        fd = fc;
        c = b - kGolden * (b - a);
        fc = evaluate(k, start, c, loop, meters).cost;
      } else {
        a = c;
        c = d;
        fc = fd;
        d = a + kGolden * (b - a);
        fd = evaluate(k, start, d, loop, meters).cost;
      }
    }
    return 0.5 * (a + b);
  }

  // Appends the minimum at x of section k unless this section already has one there.
  void keep(std::vector<FaultCandidate>& found, std::size_t first, std::size_t k,
            const Start& start, double x, const Loop& loop, const Measurements& meters) const {
    for (std::size_t c = first; c < found.size(); ++c) {
      if (std::abs(found[c].fraction - x) < kSamePoint) return;
    }
    const Point point = fault_point(k, start, x, loop);
    const auto [v, i] = loop_quantities(point, loop);
    const Complex ratio = divide(v, i);
    const SagFit sag = fit_sags(k, x, point.current, meters, true);
    const double reactance = ratio.imag();
    found.push_back(FaultCandidate{
        static_cast<std::int64_t>(k), x, loop.factor * ratio.real(), point.current,
        meters.reactance_weight * reactance * reactance + sag.cost, reactance, sag.mismatch});
  }

  std::vector<std::int64_t> parent_;
  std::vector<Complex> series_, half_shunt_, side_, end_;
  std::vector<std::int64_t> from_end_, to_end_;
  std::vector<Complex> transfer_;
  std::size_t meters_, ends_;
  int samples_, iterations_;
};

}  // namespace gridedge
