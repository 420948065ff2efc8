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
//      a resistive fault, of the head's measured voltage change against -Z_h,f I_f, and of
//      the meters' measured phase-voltage magnitudes against |V_i,pre - Z_i,f I_f|, with the
//      fault current's relative errors and the source impedance's relative errors (zero
//      sequence, and the others) fitted as complex nuisance parameters with their priors (a
//      6 x 6 or 8 x 8 least-squares solve);
//   4. minimises the score on every section: a uniform grid, then golden-section search
//      around every grid minimum and every sign change of the reactance; the score's
//      curvature at each minimum gives the fraction's standard deviation.
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
  double spread;      // standard deviation of the fraction, from the score's curvature
};

// What the meters measured during the fault, and how much to trust it.
struct Measurements {
  const double* magnitude;               // meters x 3 phase-voltage magnitudes, p.u. (NaN = none)
  const double* weight;                  // meters x 3, one over each magnitude's variance
  const Complex* meter_prefault;         // meters: positive-sequence pre-fault voltage, p.u.
  std::array<double, 3> head_weight;     // two over the variance of the head's change, per phase
  std::array<double, 2> current_weight;  // two over the variance of each current part's error
  std::array<double, 2> current_share;   // share of that variance from the pre-fault current
  double voltage_variance;               // variance of the head's loop voltage change
  double voltage_share;                  // share of it from the pre-fault voltages
  double source_weight;                  // two over the variance of the source's relative error
  double reactance_weight;               // one over the variance of the loop reactance's model
};

class FaultLocator {
 public:
  // Arrays are row-major: per-section ones (n x 3), end_impedance (n x 3 x 4: pp, pq, qp, qq
  // per sequence), transfer (3 x meters x ends), head_transfer (3 x ends), head_ratio
  // (3 x meters).
  FaultLocator(std::vector<std::int64_t> parent, std::vector<Complex> series,
               std::vector<Complex> half_shunt, std::vector<Complex> side, std::vector<Complex> end,
               std::vector<std::int64_t> from_end, std::vector<std::int64_t> to_end,
               std::vector<Complex> end_impedance, std::vector<Complex> transfer,
               std::vector<Complex> head_transfer, std::vector<Complex> head_ratio,
               std::size_t meters, std::size_t ends, int samples, int iterations)
      : parent_(std::move(parent)),
        series_(std::move(series)),
        half_shunt_(std::move(half_shunt)),
        side_(std::move(side)),
        end_(std::move(end)),
        from_end_(std::move(from_end)),
        to_end_(std::move(to_end)),
        end_impedance_(std::move(end_impedance)),
        transfer_(std::move(transfer)),
        head_transfer_(std::move(head_transfer)),
        head_ratio_(std::move(head_ratio)),
        meters_(meters),
        ends_(ends),
        samples_(samples),
        iterations_(iterations) {
    const std::size_t n = parent_.size();
    if (n == 0) throw std::invalid_argument("a feeder needs at least one section");
    if (series_.size() != 3 * n || half_shunt_.size() != 3 * n || side_.size() != 3 * n ||
        end_.size() != 3 * n || from_end_.size() != n || to_end_.size() != n ||
        end_impedance_.size() != 12 * n) {
      throw std::invalid_argument("per-section arrays must all describe the same sections");
    }
    if (transfer_.size() != 3 * meters_ * ends_) {
      throw std::invalid_argument("transfer must have 3 x meters x ends entries");
    }
    if (head_transfer_.size() != 3 * ends_ || head_ratio_.size() != 3 * meters_) {
      throw std::invalid_argument(
          "head_transfer must have 3 x ends and head_ratio 3 x meters entries");
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
    const Problem problem = problem_of(during, prefault, phases, earthed, meters);
    std::vector<FaultCandidate> found;
    const auto points = static_cast<std::size_t>(samples_) + 1;
    std::vector<double> cost(points);
    std::vector<bool> positive(points), lowest(points);
    for (std::size_t k = 0; k < n; ++k) {
      for (std::size_t j = 0; j < points; ++j) {
        const Score score = evaluate(k, start[k], grid(j), problem, nullptr);
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
                                  grid(j + 1 == points ? j : j + 1), problem);
          keep(found, first, k, start[k], x, problem);
        }
        if (j + 1 < points && positive[j] != positive[j + 1] && !lowest[j] && !lowest[j + 1]) {
          const double x = golden(k, start[k], grid(j), grid(j + 1), problem);
          keep(found, first, k, start[k], x, problem);
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

  // Everything about one fault that does not depend on the point.
  struct Problem {
    Loop loop;
    // Nuisance parameters, each complex (real and imaginary part): `parts` parts of the
    // fault current, then the source in the zero sequence and in the others.
    int parts = 1;
    std::array<Complex, 3> head_change;  // the head's measured change, phases a, b, c
    Complex change_loop;                 // and its loop combination
    Complex apparent;                    // the head's apparent loop impedance
    const Measurements* meters = nullptr;
  };

  struct Score {
    double cost;
    double reactance;
  };

  // Weighted least squares in `Size` nuisance parameters: normal matrix, gradient, squares.
  // The size is a template parameter so that the compiler unrolls the small loops.
  template <int Size>
  struct Normal {
    std::array<std::array<double, Size>, Size> matrix{};
    std::array<double, Size> gradient{};
    double squares = 0.0;

    void add(const double* row, double residual, double weight) {
      for (int a = 0; a < Size; ++a) {
        const double wa = weight * row[a];
        for (int b = 0; b <= a; ++b) matrix[a][b] += wa * row[b];
        gradient[a] += wa * residual;
      }
      squares += weight * residual * residual;
    }

    // The minimum over the nuisances, and the step that reaches it. Cholesky on the lower
    // triangle (the matrix is a prior plus a sum of outer products: positive definite).
    double solve(std::array<double, Size>& step) {
      auto& l = matrix;
      for (int a = 0; a < Size; ++a) {
        for (int b = 0; b <= a; ++b) {
          double sum = l[a][b];
          for (int c = 0; c < b; ++c) sum -= l[a][c] * l[b][c];
          l[a][b] = a == b ? std::sqrt(sum) : sum / l[b][b];
        }
      }
      std::array<double, Size> y{};
      for (int a = 0; a < Size; ++a) {
        double sum = -gradient[a];
        for (int c = 0; c < a; ++c) sum -= l[a][c] * y[c];
        y[a] = sum / l[a][a];
      }
      for (int a = Size - 1; a >= 0; --a) {
        double sum = y[a];
        for (int c = a + 1; c < Size; ++c) sum -= l[c][a] * step[c];
        step[a] = sum / l[a][a];
      }
      double cost = squares;
      for (int a = 0; a < Size; ++a) cost += gradient[a] * step[a];
      return cost;
    }
  };

  static constexpr double kGolden = 0.6180339887498949;
  static constexpr double kSamePoint = 1e-6;      // minima of one section closer are one candidate
  static constexpr double kCurvatureStep = 1e-3;  // of a section, for the score's curvature
  static constexpr double kTiny = 1e-12;          // floor of a predicted magnitude, p.u.

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

  // Phase values to sequences: row s of the phase-to-sequence matrix is the conjugate of
  // column s of the sequence-to-phase one, over 3.
  static Sequence sequence_of(const std::array<Complex, 3>& phases) {
    Sequence result;
    for (int s = 0; s < 3; ++s) {
      Complex sum = 0.0;
      for (int p = 0; p < 3; ++p) sum += std::conj(to_phase(p, s)) * phases[p];
      result[s] = sum / 3.0;
    }
    return result;
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

  // The loop's combination of sequence quantities: a-g Xa, b-c Xb - Xc, a-b-c X1.
  static Complex combined(const Sequence& sequence, const Loop& loop) {
    if (loop.first < 0) return sequence[1];
    Complex value = phase(sequence, loop.first);
    if (loop.second >= 0) value -= phase(sequence, loop.second);
    return value;
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
    return sequence_of(phase_current);
  }

  // The fault current's independently measured parts: two phase currents in a two-phase
  // fault with earth, the whole (the loop's) current otherwise.
  static int parts_of(const Loop& loop) { return loop.second >= 0 && loop.earthed ? 2 : 1; }

  static Sequence part(const Sequence& current, const Loop& loop, int d) {
    if (parts_of(loop) == 1) return current;
    std::array<Complex, 3> alone{};
    const int p = d == 0 ? loop.first : loop.second;
    alone[p] = phase(current, p);
    return sequence_of(alone);
  }

  Problem problem_of(const HeadPhasors& during, const HeadPhasors& prefault, int phases,
                     bool earthed, const Measurements& meters) const {
    Problem problem;
    problem.loop = loop_of(phases, earthed);
    problem.parts = parts_of(problem.loop);
    Sequence change, superimposed;
    for (int s = 0; s < 3; ++s) {
      change[s] = during.voltage[s] - prefault.voltage[s];
      superimposed[s] = during.current[s] - prefault.current[s];
    }
    for (int p = 0; p < 3; ++p) problem.head_change[p] = phase(change, p);
    problem.change_loop = combined(change, problem.loop);
    problem.apparent = divide(combined(during.voltage, problem.loop),
                              combined(project(superimposed, phases, earthed), problem.loop));
    problem.meters = &meters;
    return problem;
  }

  // Per sequence, the weights of the near and far end buses' transfer impedances that give a
  // point at fraction x of section k its own. Splitting the section there into two pi
  // sections moves its charging from the ends (B/2 each) to B x/2, B (1 - x)/2 and B/2 at the
  // point: a rank-three update of the impedances among the ends and the point (Woodbury),
  // which is the same two weights for every bus. An open-ended section's points take the
  // near bus's (its charging, beyond the point, is left where it is).
  std::array<std::array<Complex, 2>, 3> interior(std::size_t k, double x, bool closed) const {
    std::array<std::array<Complex, 2>, 3> weight{};
    for (int s = 0; s < 3; ++s) {
      if (!closed) {
        weight[s] = {Complex(1.0), Complex(0.0)};
        continue;
      }
      const Complex* z = &end_impedance_[(3 * k + static_cast<std::size_t>(s)) * 4];
      const Complex pp = z[0], pq = z[1], qp = z[2], qq = z[3];
      const Complex pf = (1.0 - x) * pp + x * pq, qf = (1.0 - x) * qp + x * qq;
      const Complex fp = (1.0 - x) * pp + x * qp, fq = (1.0 - x) * pq + x * qq;
      const Complex ff = (1.0 - x) * fp + x * fq + x * (1.0 - x) * series_[3 * k + s];
      const Complex block[3][3] = {{pp, pq, pf}, {qp, qq, qf}, {fp, fq, ff}};
      const Complex hs = half_shunt_[3 * k + s];
      const Complex delta[3] = {-(1.0 - x) * hs, -x * hs, hs};
      // (I + D Z) y = D z_f, by elimination with partial pivoting.
      Complex m[3][4];
      for (int i = 0; i < 3; ++i) {
        for (int j = 0; j < 3; ++j) m[i][j] = (i == j ? 1.0 : 0.0) + delta[i] * block[i][j];
        m[i][3] = delta[i] * block[i][2];
      }
      for (int c = 0; c < 3; ++c) {
        int pivot = c;
        for (int r = c + 1; r < 3; ++r) {
          if (std::abs(m[r][c]) > std::abs(m[pivot][c])) pivot = r;
        }
        for (int j = 0; j < 4; ++j) std::swap(m[c][j], m[pivot][j]);
        for (int r = c + 1; r < 3; ++r) {
          const Complex factor = m[r][c] / m[c][c];
          for (int j = c; j < 4; ++j) m[r][j] -= factor * m[c][j];
        }
      }
      Complex y[3];
      for (int r = 2; r >= 0; --r) {
        Complex sum = m[r][3];
        for (int j = r + 1; j < 3; ++j) sum -= m[r][j] * y[j];
        y[r] = sum / m[r][r];
      }
      weight[s] = {(1.0 - y[2]) * (1.0 - x) - y[0], (1.0 - y[2]) * x - y[1]};
    }
    return weight;
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

  // The score at fraction x of section k, minimised over the nuisances: the loop reactance,
  // the head's change and the meters' magnitudes, each row with its slopes with respect to
  // the nuisances' real and imaginary parts (a complex effect E on a residual moves it by
  // E nu). With `mismatch`, also the meters' unweighted squares at the fitted nuisances.
  Score evaluate(std::size_t k, const Start& start, double x, const Problem& problem,
                 double* mismatch) const {
    return problem.parts == 1 ? evaluate<1>(k, start, x, problem, mismatch)
                              : evaluate<2>(k, start, x, problem, mismatch);
  }

  template <int Parts>
  Score evaluate(std::size_t k, const Start& start, double x, const Problem& problem,
                 double* mismatch) const {
    constexpr int parts = Parts, unknowns = 2 * (Parts + 2), effects = Parts + 2;
    const Loop& loop = problem.loop;
    const Measurements& meters = *problem.meters;
    const Point point = fault_point(k, start, x, loop);
    const Complex inverse =
        std::conj(combined(point.current, loop)) / std::norm(combined(point.current, loop));
    const double reactance = (combined(point.voltage, loop) * inverse).imag();
    const auto near = static_cast<std::size_t>(from_end_[k]);
    const bool closed = to_end_[k] >= 0;
    const std::size_t far = closed ? static_cast<std::size_t>(to_end_[k]) : near;
    const std::array<std::array<Complex, 2>, 3> weight = interior(k, x, closed);
    // The nuisances' parts of the current (sequences), and the modelled head change.
    std::array<Sequence, Parts> current_part;
    for (int d = 0; d < parts; ++d) current_part[d] = part(point.current, loop, d);
    Sequence head_z, modelled;
    for (int s = 0; s < 3; ++s) {
      head_z[s] = weight[s][0] * head_transfer_[s * ends_ + near] +
                  weight[s][1] * head_transfer_[s * ends_ + far];
      modelled[s] = -head_z[s] * point.current[s];
    }
    // Effects of each nuisance on the modelled head change (sequences) and the reactance:
    // the current's parts, then the source's zero sequence and its other sequences.
    std::array<Sequence, effects> head_effect{};
    std::array<Complex, effects> coefficient;
    for (int d = 0; d < parts; ++d) {
      for (int s = 0; s < 3; ++s) head_effect[d][s] = -head_z[s] * current_part[d][s];
    }
    head_effect[parts][0] = modelled[0];
    head_effect[parts + 1][1] = modelled[1];
    head_effect[parts + 1][2] = modelled[2];
    // The loop reactance carries the fault voltages' error, the head's change both sets':
    // only the fault's share of the change is taken out of the reactance. A current part's
    // error moves the reactance through the whole loop seen from the head (fault current) or
    // through the fault alone (pre-fault current): the nuisance follows the expected mix,
    // and the rest is variance of the reactance row.
    const double kept = 1.0 - meters.voltage_share;
    const Complex ratio = combined(point.voltage, loop) * inverse;
    double variance = 1.0 / meters.reactance_weight + meters.voltage_share * kept *
                                                          meters.voltage_variance *
                                                          std::norm(inverse) / 2.0;
    for (int d = 0; d < effects; ++d) {
      coefficient[d] = kept * combined(head_effect[d], loop) * inverse;
      if (d >= parts) continue;
      const double share = meters.current_share[d];
      const Complex through = problem.apparent - share * (problem.apparent - ratio);
      coefficient[d] -= through * combined(current_part[d], loop) * inverse;
      const Complex spread = (problem.apparent - ratio) * combined(current_part[d], loop) * inverse;
      variance += std::norm(spread) * share * (1.0 - share) / meters.current_weight[d];
    }

    Normal<unknowns> normal;
    for (int d = 0; d < effects; ++d) {
      const double prior = d < parts ? meters.current_weight[d] : meters.source_weight;
      normal.matrix[2 * d][2 * d] = normal.matrix[2 * d + 1][2 * d + 1] = prior;
    }
    std::array<double, unknowns> row{};
    for (int d = 0; d < effects; ++d) {
      row[2 * d] = coefficient[d].imag();
      row[2 * d + 1] = coefficient[d].real();
    }
    normal.add(
        row.data(),
        reactance - (kept * (problem.change_loop - combined(modelled, loop)) * inverse).imag(),
        1.0 / variance);
    for (int p = 0; p < 3; ++p) {
      const Complex change = problem.head_change[p] - phase(modelled, p);
      std::array<double, unknowns> imaginary{};
      for (int d = 0; d < effects; ++d) {
        const Complex effect = phase(head_effect[d], p);
        row[2 * d] = -effect.real();
        row[2 * d + 1] = effect.imag();
        imaginary[2 * d] = -effect.imag();
        imaginary[2 * d + 1] = -effect.real();
      }
      normal.add(row.data(), change.real(), meters.head_weight[p]);
      normal.add(imaginary.data(), change.imag(), meters.head_weight[p]);
    }
    // The meters' rows, kept for the mismatch at the fitted nuisances.
    std::array<double, unknowns> step{};
    const auto visit = [&](auto&& use) {
      for (std::size_t m = 0; m < meters_; ++m) {
        // Z_i,f times the current, then times each of its parts; then the source's effects.
        std::array<Sequence, Parts + 1> drop;
        std::array<Sequence, 2> source{};
        for (int s = 0; s < 3; ++s) {
          const std::size_t at = (static_cast<std::size_t>(s) * meters_ + m) * ends_;
          const Complex z =
              weight[s][0] * transfer_[at + near] + weight[s][1] * transfer_[at + far];
          drop[0][s] = z * point.current[s];
          for (int d = 0; d < parts; ++d) drop[d + 1][s] = z * current_part[d][s];
          source[s == 0 ? 0 : 1][s] =
              head_ratio_[static_cast<std::size_t>(s) * meters_ + m] * modelled[s];
        }
        for (int p = 0; p < 3; ++p) {
          const double measured = meters.magnitude[3 * m + p];
          if (std::isnan(measured)) continue;
          const Complex voltage = to_phase(p, 1) * meters.meter_prefault[m] - phase(drop[0], p);
          const double magnitude = std::max(std::sqrt(std::norm(voltage)), kTiny);
          const Complex unit = std::conj(voltage) / magnitude;
          for (int d = 0; d < effects; ++d) {
            const Complex product =
                unit * (d < parts ? -phase(drop[d + 1], p) : phase(source[d - parts], p));
            row[2 * d] = product.real();
            row[2 * d + 1] = -product.imag();
          }
          use(row.data(), magnitude - measured, meters.weight[3 * m + p]);
        }
      }
    };
    visit(
        [&](const double* r, double residual, double weight) { normal.add(r, residual, weight); });
    const double cost = normal.solve(step);
    if (mismatch != nullptr) {
      *mismatch = 0.0;
      visit([&](const double* r, double residual, double) {
        double fitted = residual;
        for (int a = 0; a < unknowns; ++a) fitted += r[a] * step[a];
        *mismatch += fitted * fitted;
      });
    }
    return Score{cost, reactance};
  }

  double golden(std::size_t k, const Start& start, double a, double b,
                const Problem& problem) const {
    double c = b - kGolden * (b - a), d = a + kGolden * (b - a);
    double fc = evaluate(k, start, c, problem, nullptr).cost;
    double fd = evaluate(k, start, d, problem, nullptr).cost;
    for (int step = 0; step < iterations_; ++step) {
      if (fc < fd) {
        b = d;
        d = c;
        fd = fc;
        c = b - kGolden * (b - a);
        fc = evaluate(k, start, c, problem, nullptr).cost;
      } else {
        a = c;
        c = d;
        fc = fd;
        d = a + kGolden * (b - a);
        fd = evaluate(k, start, d, problem, nullptr).cost;
      }
    }
    return 0.5 * (a + b);
  }

  // Appends the minimum at x of section k unless this section already has one there.
  void keep(std::vector<FaultCandidate>& found, std::size_t first, std::size_t k,
            const Start& start, double x, const Problem& problem) const {
    for (std::size_t c = first; c < found.size(); ++c) {
      if (std::abs(found[c].fraction - x) < kSamePoint) return;
    }
    const Point point = fault_point(k, start, x, problem.loop);
    const Complex ratio =
        divide(combined(point.voltage, problem.loop), combined(point.current, problem.loop));
    double mismatch = 0.0;
    const Score score = evaluate(k, start, x, problem, &mismatch);
    found.push_back(FaultCandidate{static_cast<std::int64_t>(k), x,
                                   problem.loop.factor * ratio.real(), point.current, score.cost,
                                   score.reactance, mismatch, spread(k, start, x, problem)});
  }

  // The score is a chi-square in the fraction near its minimum: a standard deviation of
  // sqrt(2 / curvature), from a second difference kept inside the section; infinite where
  // the score does not curve upwards.
  double spread(std::size_t k, const Start& start, double x, const Problem& problem) const {
    const double h = kCurvatureStep, c = std::min(std::max(x, h), 1.0 - h);
    const double curvature = (evaluate(k, start, c - h, problem, nullptr).cost -
                              2.0 * evaluate(k, start, c, problem, nullptr).cost +
                              evaluate(k, start, c + h, problem, nullptr).cost) /
                             (h * h);
    return curvature > 0 ? std::sqrt(2.0 / curvature) : HUGE_VAL;
  }

  std::vector<std::int64_t> parent_;
  std::vector<Complex> series_, half_shunt_, side_, end_;
  std::vector<std::int64_t> from_end_, to_end_;
  std::vector<Complex> end_impedance_;
  std::vector<Complex> transfer_, head_transfer_, head_ratio_;
  std::size_t meters_, ends_;
  int samples_, iterations_;
};

}  // namespace gridedge
