// Weighted-least-squares state estimation of a balanced (positive-sequence) network.
//
// State: voltage angle (rad) and magnitude (p.u.) of every node, except the angles of reference
// nodes, which stay fixed. Measurement functions h(x): voltage magnitude and angle of a node,
// active and reactive power injected at a node, active and reactive power flowing from a node
// into a branch, magnitude and angle of the current into a branch (p.u. and rad). Gauss-Newton:
// G dx = H^T W (z - h(x)), G = H^T W H, with W block diagonal (correlated groups allowed), until
// max |dx| <= tolerance.
//
// Everything structural is prepared once: the fill-reducing order of the nodes, the pattern of
// the factor, and for every pair of Jacobian entries the storage slot its product goes to. An
// iteration then evaluates h and H, accumulates G directly into the factor's storage, factorises
// in place and solves - no allocation, no index search. Plain C++17, no Python.
#pragma once

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "gridedge/sparse_ldl.hpp"

namespace gridedge::wls {

using complex = std::complex<double>;

enum Kind : int {
  kVoltageMagnitude = 0,
  kVoltageAngle = 1,
  kActiveInjection = 2,
  kReactiveInjection = 3,
  kActiveFlow = 4,
  kReactiveFlow = 5,
  kCurrentMagnitude = 6,
  kCurrentAngle = 7,
};
constexpr int kKinds = 8;
constexpr double kTwoPi = 6.283185307179586476925286766559;
// A state belongs to an unobservable part when a null vector of the gain has a component along
// it above this fraction of the vector's largest (round-off leaves ~1e-8 elsewhere).
constexpr double kNullComponent = 1e-6;

// kUnobservable: the gain matrix with unit-norm rows has a zero pivot at the start (the
// measurements do not determine some states, whatever their weights); kSingular: the weighted
// gain matrix broke down (a pivot not positive) at a later point.
enum Status : int {
  kConverged = 0,
  kUnobservable = 1,
  kNotConverged = 2,
  kDiverged = 3,
  kSingular = 4,
};

// The positive-sequence network.
struct Network {
  int n_node = 0;
  std::vector<int> y_ptr;  // bus admittance matrix, CSR (n_node + 1), p.u.
  std::vector<int> y_idx;
  std::vector<complex> y_val;
  std::vector<int> from;  // per branch: node of each end, -1 where open
  std::vector<int> to;
  std::vector<complex> two_port;  // per branch: y_ff, y_ft, y_tf, y_tt (currents into the branch)
  std::vector<char> fixed_angle;  // per node: 1 for a reference node
};

// Quantities to measure or derive: kind, node (the bus, or the measured end of a branch),
// branch (-1 for bus quantities) and end (0 = from, 1 = to).
struct Quantities {
  std::vector<int> kind;
  std::vector<int> node;
  std::vector<int> branch;
  std::vector<int> end;
  std::size_t size() const noexcept { return kind.size(); }
};

struct Settings {
  double tolerance = 1e-8;     // stop when max |dx| <= tolerance (rad, p.u.) ...
  double tolerance_sd = 1e-3;  // ... or sqrt(dx^T G dx) <= tolerance_sd (standard deviations)
  int max_iterations = 30;
  double pivot_tolerance = 1e-10;  // observability: relative to the unit-row gain's diagonal
  double min_current = 1e-9;       // p.u.; below it a current's magnitude and angle have no slope
  double max_magnitude = 3.0;      // p.u.; a magnitude outside (0, max) means divergence
};

struct Report {
  int status = kConverged;
  int iterations = 0;    // Gauss-Newton steps taken (for kSingular: before the breakdown)
  double step = 0.0;     // last max |dx|
  double step_sd = 0.0;  // last sqrt(dx^T G dx): the step in standard deviations of the estimate
  int state = -1;        // state index the status refers to (largest step, bad magnitude), or -1
  double objective = 0.0;
};

// Which state variables a node has: the angle (unless fixed) and the magnitude.
struct StateMap {
  std::vector<int> angle;      // per node, -1 when fixed
  std::vector<int> magnitude;  // per node
  std::vector<int> node;       // per state
  std::vector<char> is_magnitude;
  int size() const noexcept { return static_cast<int>(node.size()); }
};

// Measurement functions and their Jacobian rows, for one list of quantities.
//
// Every quantity is the magnitude, angle, real or imaginary part of a complex "source": a node
// voltage, the power injected at a node, or the power or current into a branch end. Its
// derivatives along the (angle, magnitude) of the nodes involved ("terms") follow from those
// of the source: d|C| = Re(conj(C) dC) / |C|, d arg C = Im(conj(C) dC) / |C|^2. Consecutive
// quantities of one source (P and Q of a node, |I| and arg I of a branch end) share its
// evaluation.
class Rows {
 public:
  Rows() = default;

  Rows(const Network& net, const Quantities& q, const StateMap& states) : q_(q) {
    const std::size_t m = q.size();
    ptr_.assign(1, 0);
    term_ptr_.assign(1, 0);
    shared_.assign(m, 0);
    std::vector<std::pair<int, int>> entries;  // (state, term)
    std::size_t most_terms = 0;
    for (std::size_t r = 0; r < m; ++r) {
      entries.clear();
      int term = 0;
      auto add = [&](int node) {
        for (const int s : {states.angle[node], states.magnitude[node]}) {
          if (s >= 0) entries.emplace_back(s, term);
          ++term;
        }
      };
      const int k = q.node[r];
      const int source = source_of(q.kind[r]);
      add(k);
      if (source == kNodeInjection) {
        for (int p = net.y_ptr[k]; p < net.y_ptr[k + 1]; ++p) {
          if (net.y_idx[p] != k) add(net.y_idx[p]);
        }
      } else if (source != kNodeVoltage) {
        const int other = q.end[r] == 0 ? net.to[q.branch[r]] : net.from[q.branch[r]];
        if (other >= 0) add(other);
      }
      if (r > 0 && source == source_of(q.kind[r - 1]) && k == q.node[r - 1] &&
          (source < kBranchPower || (q.branch[r] == q.branch[r - 1] && q.end[r] == q.end[r - 1]))) {
        shared_[r] = 1;
      }
      most_terms = std::max(most_terms, static_cast<std::size_t>(term));
      std::sort(entries.begin(), entries.end());
      const std::size_t base = target_.size();
      target_.resize(base + static_cast<std::size_t>(term), -1);
      for (std::size_t e = 0; e < entries.size(); ++e) {
        state_.push_back(entries[e].first);
        target_[base + static_cast<std::size_t>(entries[e].second)] = static_cast<int>(e);
      }
      ptr_.push_back(static_cast<int>(state_.size()));
      term_ptr_.push_back(static_cast<int>(target_.size()));
    }
    slope_.assign(most_terms, complex(0.0, 0.0));
    value_.assign(state_.size(), 0.0);
    h_.assign(m, 0.0);
    usable_.assign(m, 1);
  }

  std::size_t size() const noexcept { return h_.size(); }
  const std::vector<int>& ptr() const noexcept { return ptr_; }
  const std::vector<int>& state() const noexcept { return state_; }
  const std::vector<double>& value() const noexcept { return value_; }
  const std::vector<double>& h() const noexcept { return h_; }
  const std::vector<char>& usable() const noexcept { return usable_; }

  std::size_t memory_bytes() const noexcept {
    return (ptr_.size() + state_.size() + target_.size() + term_ptr_.size() + 4 * q_.size()) *
               sizeof(int) +
           (value_.size() + h_.size()) * sizeof(double) + usable_.size() + shared_.size() +
           slope_.size() * sizeof(complex);
  }

  // h(x) and the Jacobian rows at node voltages `v` (complex, p.u.) of magnitudes `vm`, with
  // nodal currents `injected` = Y v. A current below `min_current` has no defined direction:
  // rows of its magnitude or angle are marked unusable for this evaluation.
  void evaluate(const Network& net, const complex* v, const double* vm, const complex* injected,
                double min_current) {
    complex c = 0.0;
    int terms = 0;
    for (std::size_t r = 0; r < h_.size(); ++r) {
      if (!shared_[r]) terms = source(net, r, v, vm, injected, c);
      const int kind = q_.kind[r];
      const int* target = target_.data() + term_ptr_[r];
      double* row = value_.data() + ptr_[r];
      const double magnitude = std::sqrt(std::norm(c));
      usable_[r] = 1;
      double scale = 1.0;
      switch (kind) {
        case kActiveInjection:
        case kActiveFlow:
          h_[r] = c.real();
          for (int t = 0; t < terms; ++t) put(target, row, t, slope_[t].real());
          continue;
        case kReactiveInjection:
        case kReactiveFlow:
          h_[r] = c.imag();
          for (int t = 0; t < terms; ++t) put(target, row, t, slope_[t].imag());
          continue;
        case kVoltageMagnitude:
        case kCurrentMagnitude:
          h_[r] = magnitude;
          scale = 1.0 / magnitude;
          break;
        default:  // angles
          h_[r] = std::arg(c);
          scale = 1.0 / (magnitude * magnitude);
      }
      if (!(magnitude >= min_current)) {
        usable_[r] = 0;
        for (int t = 0; t < terms; ++t) put(target, row, t, 0.0);
        continue;
      }
      const bool along = kind == kVoltageMagnitude || kind == kCurrentMagnitude;
      const complex turned = std::conj(c) * scale;
      for (int t = 0; t < terms; ++t) {
        const complex d = turned * slope_[t];
        put(target, row, t, along ? d.real() : d.imag());
      }
    }
  }

 private:
  enum Source : int { kNodeVoltage = 0, kNodeInjection = 1, kBranchPower = 2, kBranchCurrent = 3 };

  static int source_of(int kind) noexcept {
    switch (kind) {
      case kVoltageMagnitude:
      case kVoltageAngle:
        return kNodeVoltage;
      case kActiveInjection:
      case kReactiveInjection:
        return kNodeInjection;
      case kActiveFlow:
      case kReactiveFlow:
        return kBranchPower;
      default:
        return kBranchCurrent;
    }
  }

  static void put(const int* target, double* row, int term, double value) noexcept {
    if (target[term] >= 0) row[target[term]] = value;
  }

  // The complex source of row r into `c` and its derivatives into slope_; returns the terms.
  int source(const Network& net, std::size_t r, const complex* v, const double* vm,
             const complex* injected, complex& c) {
    const complex j(0.0, 1.0);
    const int k = q_.node[r];
    const complex vk = v[k];
    const complex unit = vk / vm[k];  // dV_k / d|V_k|; dV_k / d(angle) = j V_k
    switch (source_of(q_.kind[r])) {
      case kNodeVoltage:
        c = vk;
        slope_[0] = j * vk;
        slope_[1] = unit;
        return 2;
      case kNodeInjection: {
        // dS_k/dx_m = V_k conj(Y_km dV_m/dx); dS_k/dx_k adds dV_k/dx conj(I_k).
        const complex current = injected[k];
        complex y_kk = 0.0;
        int term = 2;
        for (int p = net.y_ptr[k]; p < net.y_ptr[k + 1]; ++p) {
          const int m = net.y_idx[p];
          if (m == k) {
            y_kk = net.y_val[p];
            continue;
          }
          const complex y_v = net.y_val[p] * v[m];
          slope_[term++] = vk * std::conj(j * y_v);
          slope_[term++] = vk * std::conj(y_v / vm[m]);
        }
        c = vk * std::conj(current);
        slope_[0] = j * c + vk * std::conj(j * y_kk * vk);
        slope_[1] = unit * std::conj(current) + vk * std::conj(y_kk * unit);
        return term;
      }
      default: {
        const int b = q_.branch[r];
        const bool at_from = q_.end[r] == 0;
        const int other = at_from ? net.to[b] : net.from[b];
        const complex* y = net.two_port.data() + 4 * static_cast<std::size_t>(b);
        const complex y_own = at_from ? y[0] : y[3];
        const complex y_other = at_from ? y[1] : y[2];
        // Current into the branch end and its derivatives along both ends' angle and magnitude.
        complex current = y_own * vk;
        slope_[0] = j * y_own * vk;
        slope_[1] = y_own * unit;
        int terms = 2;
        if (other >= 0) {
          const complex vt = v[other];
          current += y_other * vt;
          slope_[2] = j * y_other * vt;
          slope_[3] = y_other * vt / vm[other];
          terms = 4;
        }
        if (source_of(q_.kind[r]) == kBranchCurrent) {
          c = current;
          return terms;
        }
        // S = V conj(I): dS/dx = dV/dx conj(I) + V conj(dI/dx).
        c = vk * std::conj(current);
        const complex own[2] = {j * vk, unit};
        for (int t = 0; t < terms; ++t) {
          slope_[t] = vk * std::conj(slope_[t]);
          if (t < 2) slope_[t] += own[t] * std::conj(current);
        }
        return terms;
      }
    }
  }

  Quantities q_;
  std::vector<int> ptr_;       // row r: entries ptr_[r] .. ptr_[r + 1]
  std::vector<int> state_;     // state index of each entry, ascending within a row
  std::vector<double> value_;  // dh/dx of each entry
  std::vector<int> term_ptr_;  // evaluation terms of row r
  std::vector<int> target_;    // entry of each term, -1 for a fixed angle
  std::vector<char> shared_;   // row r has the source of row r - 1
  std::vector<complex> slope_;
  std::vector<double> h_;
  std::vector<char> usable_;
};

class Estimator {
 public:
  // `group_ptr` (n_group + 1) splits the measurements into consecutive groups whose errors may
  // be correlated; each has a dense weight block (row-major) in the weights given to solve().
  Estimator(Network network, const Quantities& measured, std::vector<int> group_ptr)
      : net_(std::move(network)), group_ptr_(std::move(group_ptr)) {
    check(measured);
    const int n = net_.n_node;
    // Node graph: the nodes of every group's rows are joined pairwise.
    std::vector<std::vector<int>> adjacency(n);
    const StateMap provisional = provisional_states();
    const Rows nodes_of(net_, measured, provisional);
    std::vector<int> members;
    for (std::size_t g = 0; g + 1 < group_ptr_.size(); ++g) {
      members.clear();
      for (int r = group_ptr_[g]; r < group_ptr_[g + 1]; ++r) {
        for (int e = nodes_of.ptr()[r]; e < nodes_of.ptr()[r + 1]; ++e) {
          members.push_back(provisional.node[nodes_of.state()[e]]);
        }
      }
      std::sort(members.begin(), members.end());
      members.erase(std::unique(members.begin(), members.end()), members.end());
      for (int a : members) {
        for (int b : members) {
          if (a != b) adjacency[a].push_back(b);
        }
      }
    }
    const Elimination elimination = minimum_degree(n, std::move(adjacency));
    // States numbered in elimination order: angle then magnitude of each node.
    states_.angle.assign(n, -1);
    states_.magnitude.assign(n, -1);
    std::vector<int> first_state(n + 1, 0);
    for (int k = 0; k < n; ++k) {
      const int node = elimination.order[k];
      first_state[k] = states_.size();
      if (!net_.fixed_angle[node]) {
        states_.angle[node] = states_.size();
        states_.node.push_back(node);
        states_.is_magnitude.push_back(0);
      }
      states_.magnitude[node] = states_.size();
      states_.node.push_back(node);
      states_.is_magnitude.push_back(1);
    }
    first_state[n] = states_.size();
    // Pattern of L by states: later states of the node, then all states of the node's
    // neighbours at elimination.
    std::vector<int> col_ptr(1, 0);
    std::vector<int> row_idx;
    for (int k = 0; k < n; ++k) {
      for (int s = first_state[k]; s < first_state[k + 1]; ++s) {
        for (int t = s + 1; t < first_state[k + 1]; ++t) row_idx.push_back(t);
        for (int p = elimination.pattern_ptr[k]; p < elimination.pattern_ptr[k + 1]; ++p) {
          const int later = elimination.pattern[p];
          for (int t = first_state[later]; t < first_state[later + 1]; ++t) row_idx.push_back(t);
        }
        col_ptr.push_back(static_cast<int>(row_idx.size()));
      }
    }
    ldl_ = SparseLDL(std::move(col_ptr), std::move(row_idx));
    rows_ = Rows(net_, measured, states_);
    prepare_slots();
    const std::size_t m = measured.size();
    z_.assign(m, 0.0);
    w_.assign(weight_size_, 0.0);
    residual_.assign(m, 0.0);
    rhs_.assign(states_.size(), 0.0);
    target_rhs_.assign(states_.size(), 0.0);
    find_islands(measured);
    level_rows_.assign(m, 0.0);
    step_rows_.assign(m, 0.0);
    weighted_level_.assign(m, 0.0);
    vm_.assign(n, 1.0);
    va_.assign(n, 0.0);
    v_.assign(n, complex(1.0, 0.0));
    injected_.assign(n, complex(0.0, 0.0));
    angle_measured_.resize(m);
    for (std::size_t r = 0; r < m; ++r) {
      angle_measured_[r] = measured.kind[r] == kVoltageAngle || measured.kind[r] == kCurrentAngle;
    }
  }

  int n_node() const noexcept { return net_.n_node; }
  int n_state() const noexcept { return states_.size(); }
  std::size_t n_measurement() const noexcept { return rows_.size(); }
  std::size_t weight_size() const noexcept { return weight_size_; }
  std::size_t factor_nonzeros() const noexcept { return ldl_.nnz(); }
  const StateMap& states() const noexcept { return states_; }
  const std::vector<double>& estimates() const noexcept { return rows_.h(); }
  const std::vector<double>& voltage_magnitude() const noexcept { return vm_; }
  const std::vector<double>& voltage_angle() const noexcept { return va_; }

  std::size_t memory_bytes() const noexcept {
    return ldl_.memory_bytes() + rows_.memory_bytes() +
           (slots_.size() + slot_start_.size() + bundle_ptr_.size() + cross_ptr_.size() +
            weight_ptr_.size() + group_ptr_.size() + row_weight_.size()) *
               sizeof(int) +
           (z_.size() + w_.size() + residual_.size() + rhs_.size() + vm_.size() + va_.size() +
            inverse_.size() + own_weight_.size() + drive_.size() + target_rhs_.size() +
            level_rows_.size() + step_rows_.size() + weighted_level_.size()) *
               sizeof(double) +
           (v_.size() + injected_.size() + net_.y_val.size() + net_.two_port.size()) *
               sizeof(complex);
  }

  // Gauss-Newton from (vm, va) (per node, p.u. and rad; fixed angles stay). `z` holds the
  // measured values (p.u., rad) and `w` the weight blocks. With `check_observability`, the
  // first step is preceded by the observability test (kUnobservable when it fails). On return
  // the estimate is in voltage_magnitude() / voltage_angle() and, with kConverged, h(x) at it
  // in estimates().
  //
  // Stopping rule: the step is at most `tolerance` in every state variable, or at most
  // `tolerance_sd` standard deviations of the estimate along any direction (sqrt(dx^T G dx)
  // bounds |u^T dx| / sd(u^T x) for every u); the second keeps badly conditioned directions
  // (the voltage level of a large grid) from demanding precision far below their uncertainty.
  Report solve(const double* z, const double* w, const double* vm, const double* va,
               const Settings& settings, bool check_observability) {
    std::copy(z, z + z_.size(), z_.begin());
    std::copy(w, w + w_.size(), w_.begin());
    std::copy(vm, vm + vm_.size(), vm_.begin());
    std::copy(va, va + va_.size(), va_.begin());
    settings_ = settings;
    factor_current_ = false;
    Report report;
    for (int iteration = 0; iteration < settings.max_iterations; ++iteration) {
      evaluate();
      if (iteration == 0 && check_observability) {
        // Observability does not depend on the weights: test the gain of unit-norm rows, where
        // a tiny relative pivot means a dependent column, not a heavily weighted neighbour.
        assemble(true);
        if (ldl_.factor(settings.pivot_tolerance) > 0) {
          report.status = kUnobservable;
          report.state = ldl_.zero_pivots().front();
          return report;
        }
      }
      assemble(false);
      if (ldl_.factor(0.0) > 0) {
        report.status = kSingular;
        report.iterations = iteration;
        report.state = ldl_.zero_pivots().front();
        return report;
      }
      std::copy(rhs_.begin(), rhs_.end(), target_rhs_.begin());
      ldl_.solve(rhs_.data());
      correct_levels();
      double step = 0.0;
      int worst = -1;
      bool finite = true;
      for (int s = 0; s < n_state(); ++s) {
        const double dx = rhs_[s];
        if (!std::isfinite(dx)) {
          finite = false;
          worst = s;
        } else if (finite && std::abs(dx) > step) {
          step = std::abs(dx);
          worst = s;
        }
        const int node = states_.node[s];
        if (states_.is_magnitude[s]) {
          vm_[node] += dx;
        } else {
          va_[node] += dx;
        }
      }
      double decrement = 0.0;
      for (int s = 0; s < n_state(); ++s) decrement += rhs_[s] * target_rhs_[s];
      report.iterations = iteration + 1;
      report.step = step;
      report.step_sd = std::sqrt(std::max(decrement, 0.0));
      report.state = worst;
      if (!finite) {
        report.step = std::numeric_limits<double>::quiet_NaN();
        report.status = kDiverged;
        return report;
      }
      for (int node = 0; node < n_node(); ++node) {
        if (!(vm_[node] > 0.0 && vm_[node] < settings.max_magnitude)) {
          report.status = kDiverged;
          report.state = states_.magnitude[node];
          return report;
        }
      }
      if (step <= settings.tolerance || report.step_sd <= settings.tolerance_sd) {
        evaluate();
        report.status = kConverged;
        report.objective = objective();
        return report;
      }
    }
    report.status = kNotConverged;
    return report;
  }

  // Nodes with a component along the null space of the gain matrix after a kUnobservable or
  // kSingular report.
  std::vector<int> unobservable_nodes() const {
    std::vector<char> flagged(n_node(), 0);
    std::vector<double> x(n_state());
    for (int k : ldl_.zero_pivots()) {
      ldl_.null_vector(k, x.data());
      double largest = 0.0;
      for (double value : x) largest = std::max(largest, std::abs(value));
      for (int s = 0; s < n_state(); ++s) {
        if (std::abs(x[s]) > kNullComponent * largest) flagged[states_.node[s]] = 1;
      }
    }
    std::vector<int> nodes;
    for (int node = 0; node < n_node(); ++node) {
      if (flagged[node]) nodes.push_back(node);
    }
    return nodes;
  }

  // diag(H G^-1 H^T) at the estimate: the variance of the estimate of each measured quantity.
  // Returns false if the gain matrix is singular there.
  bool measurement_variance(double* out) {
    if (!inverse_at_estimate()) return false;
    const std::vector<int>& ptr = rows_.ptr();
    const std::vector<double>& value = rows_.value();
    for (std::size_t r = 0; r < rows_.size(); ++r) {
      const int* slot = slots_.data() + slot_start_[r];
      double sum = 0.0;
      for (int i = ptr[r]; i < ptr[r + 1]; ++i) {
        for (int k = ptr[r]; k < i; ++k) sum += 2.0 * value[i] * value[k] * inverse_[*slot++];
        sum += value[i] * value[i] * inverse_[*slot++];
      }
      out[r] = sum;
    }
    return true;
  }

  // Variances of the state at the estimate, per node (0 for a fixed angle). False if singular.
  bool state_variance(double* angle, double* magnitude) {
    if (!inverse_at_estimate()) return false;
    for (int node = 0; node < n_node(); ++node) {
      const int a = states_.angle[node];
      angle[node] = a >= 0 ? inverse_[a] : 0.0;
      magnitude[node] = inverse_[states_.magnitude[node]];
    }
    return true;
  }

  // Values and covariance J G^-1 J^T (row-major, size^2) of `derived` quantities at the
  // estimate, through one forward solve per quantity. False if the gain matrix is singular.
  bool derived(const Quantities& derived, double* values, double* covariance) {
    check(derived);
    if (!factor_at_estimate()) return false;
    Rows rows(net_, derived, states_);
    rows.evaluate(net_, v_.data(), vm_.data(), injected_.data(), settings_.min_current);
    const std::size_t k = derived.size();
    const std::size_t n = static_cast<std::size_t>(n_state());
    std::vector<double> y(k * n, 0.0);
    for (std::size_t r = 0; r < k; ++r) {
      values[r] = rows.h()[r];
      double* column = y.data() + r * n;
      for (int e = rows.ptr()[r]; e < rows.ptr()[r + 1]; ++e) {
        column[rows.state()[e]] = rows.value()[e];
      }
      ldl_.half_solve(column);
    }
    for (std::size_t a = 0; a < k; ++a) {
      for (std::size_t b = 0; b <= a; ++b) {
        double sum = 0.0;
        const double* ya = y.data() + a * n;
        const double* yb = y.data() + b * n;
        for (std::size_t s = 0; s < n; ++s) sum += ya[s] * yb[s];
        covariance[a * k + b] = sum;
        covariance[b * k + a] = sum;
      }
    }
    return true;
  }

 private:
  void check(const Quantities& q) const {
    const std::size_t m = q.size();
    if (q.node.size() != m || q.branch.size() != m || q.end.size() != m) {
      throw std::invalid_argument("kind, node, branch and end must have one entry per quantity");
    }
    const int n_branch = static_cast<int>(net_.from.size());
    for (std::size_t r = 0; r < m; ++r) {
      const std::string where = "quantity " + std::to_string(r) + ": ";
      if (q.kind[r] < 0 || q.kind[r] >= kKinds) {
        throw std::invalid_argument(where + "unknown kind " + std::to_string(q.kind[r]));
      }
      if (q.node[r] < 0 || q.node[r] >= net_.n_node) {
        throw std::invalid_argument(where + "node " + std::to_string(q.node[r]) + " out of range");
      }
      if (q.kind[r] >= kActiveFlow) {
        const int b = q.branch[r];
        if (b < 0 || b >= n_branch || (q.end[r] != 0 && q.end[r] != 1)) {
          throw std::invalid_argument(where + "branch or end out of range");
        }
        if ((q.end[r] == 0 ? net_.from[b] : net_.to[b]) != q.node[r]) {
          throw std::invalid_argument(where + "node is not the measured end of the branch");
        }
      }
    }
  }

  // Islands of the network (connected through the admittance matrix), each with its own
  // voltage level, and the island of every measurement row.
  void find_islands(const Quantities& measured) {
    const int n = net_.n_node;
    node_island_.assign(n, -1);
    int islands = 0;
    std::vector<int> stack;
    for (int start = 0; start < n; ++start) {
      if (node_island_[start] >= 0) continue;
      node_island_[start] = islands;
      stack.assign(1, start);
      while (!stack.empty()) {
        const int here = stack.back();
        stack.pop_back();
        for (int p = net_.y_ptr[here]; p < net_.y_ptr[here + 1]; ++p) {
          const int there = net_.y_idx[p];
          if (node_island_[there] < 0) {
            node_island_[there] = islands;
            stack.push_back(there);
          }
        }
      }
      ++islands;
    }
    row_island_.resize(measured.size());
    for (std::size_t r = 0; r < measured.size(); ++r)
      row_island_[r] = node_island_[measured.node[r]];
    level_numerator_.assign(islands, 0.0);
    level_denominator_.assign(islands, 0.0);
  }

  StateMap provisional_states() const {
    StateMap map;
    map.angle.resize(net_.n_node);
    map.magnitude.resize(net_.n_node);
    for (int node = 0; node < net_.n_node; ++node) {
      map.angle[node] = static_cast<int>(map.node.size());
      map.node.push_back(node);
      map.is_magnitude.push_back(0);
      map.magnitude[node] = static_cast<int>(map.node.size());
      map.node.push_back(node);
      map.is_magnitude.push_back(1);
    }
    return map;
  }

  // For each row, the slots of its entry pairs (i >= k, in row order), shared by consecutive
  // uncorrelated rows with the same entries (a bundle: P and Q of one node); for each group of
  // more than one row, the slots of the cross pairs (row a entry i, row b entry k), -1 above
  // the diagonal.
  void prepare_slots() {
    const std::vector<int>& ptr = rows_.ptr();
    const std::vector<int>& state = rows_.state();
    auto slot_of = [&](int si, int sk) -> int {
      const long found = si >= sk ? ldl_.slot(si, sk) : -1;
      if (si >= sk && found < 0) throw std::logic_error("gain entry outside the factor pattern");
      return static_cast<int>(found);
    };
    const std::size_t m = rows_.size();
    const std::size_t n_group = group_ptr_.size() - 1;
    row_weight_.assign(m, 0);
    weight_ptr_.assign(1, 0);
    for (std::size_t g = 0; g < n_group; ++g) {
      const int first = group_ptr_[g];
      const int size = group_ptr_[g + 1] - first;
      for (int a = 0; a < size; ++a) row_weight_[first + a] = weight_ptr_.back() + a * size + a;
      weight_ptr_.push_back(weight_ptr_.back() + size * size);
    }
    weight_size_ = static_cast<std::size_t>(weight_ptr_.back());
    std::vector<char> alone(m, 0);
    for (std::size_t g = 0; g < n_group; ++g) {
      if (group_ptr_[g + 1] - group_ptr_[g] == 1) alone[group_ptr_[g]] = 1;
    }
    slot_start_.assign(m, 0);
    bundle_ptr_.assign(1, 0);
    for (std::size_t r = 0; r < m; ++r) {
      const bool same = r > 0 && alone[r] && alone[r - 1] &&
                        std::equal(state.begin() + ptr[r], state.begin() + ptr[r + 1],
                                   state.begin() + ptr[r - 1], state.begin() + ptr[r]) &&
                        ptr[r + 1] - ptr[r] == ptr[r] - ptr[r - 1];
      if (same) {
        slot_start_[r] = slot_start_[r - 1];
        continue;
      }
      if (r > 0) bundle_ptr_.push_back(static_cast<int>(r));
      slot_start_[r] = static_cast<int>(slots_.size());
      for (int i = ptr[r]; i < ptr[r + 1]; ++i) {
        for (int k = ptr[r]; k <= i; ++k) slots_.push_back(slot_of(state[i], state[k]));
      }
    }
    bundle_ptr_.push_back(static_cast<int>(m));
    cross_ptr_.assign(1, static_cast<int>(slots_.size()));
    for (std::size_t g = 0; g < n_group; ++g) {
      const int first = group_ptr_[g];
      const int last = group_ptr_[g + 1];
      for (int a = first; a < last; ++a) {
        for (int b = first; b < last; ++b) {
          if (a == b) continue;
          for (int i = ptr[a]; i < ptr[a + 1]; ++i) {
            for (int k = ptr[b]; k < ptr[b + 1]; ++k) slots_.push_back(slot_of(state[i], state[k]));
          }
        }
      }
      cross_ptr_.push_back(static_cast<int>(slots_.size()));
    }
    own_weight_.assign(m, 0.0);
    drive_.assign(m, 0.0);
  }

  void evaluate() {
    const int n = n_node();
    for (int node = 0; node < n; ++node) v_[node] = std::polar(vm_[node], va_[node]);
    for (int node = 0; node < n; ++node) {
      complex sum = 0.0;
      for (int p = net_.y_ptr[node]; p < net_.y_ptr[node + 1]; ++p) {
        sum += net_.y_val[p] * v_[net_.y_idx[p]];
      }
      injected_[node] = sum;
    }
    rows_.evaluate(net_, v_.data(), vm_.data(), injected_.data(), settings_.min_current);
    const std::vector<double>& h = rows_.h();
    for (std::size_t r = 0; r < h.size(); ++r) {
      double residual = z_[r] - h[r];
      if (angle_measured_[r]) residual = std::remainder(residual, kTwoPi);
      residual_[r] = residual;
    }
  }

  // Own weight of each row (0 for rows out of use); with `unit_rows` 1 / |h_a|^2 instead for
  // every row in use, and no cross weights.
  void weigh_rows(bool unit_rows) {
    const std::vector<int>& ptr = rows_.ptr();
    const std::vector<double>& value = rows_.value();
    const std::vector<char>& usable = rows_.usable();
    unit_rows_ = unit_rows;
    for (std::size_t r = 0; r < rows_.size(); ++r) {
      double w = usable[r] ? w_[row_weight_[r]] : 0.0;
      if (unit_rows && w > 0.0) {
        double norm = 0.0;
        for (int i = ptr[r]; i < ptr[r + 1]; ++i) norm += value[i] * value[i];
        w = norm > 0.0 ? 1.0 / norm : 0.0;
      }
      own_weight_[r] = w;
    }
  }

  // out = W in over the rows in use, with the weights of the last weigh_rows().
  void apply_weights(const double* in, double* out) const {
    const std::vector<char>& usable = rows_.usable();
    for (std::size_t r = 0; r < rows_.size(); ++r) out[r] = own_weight_[r] * in[r];
    if (unit_rows_) return;
    const std::size_t n_group = group_ptr_.size() - 1;
    for (std::size_t g = 0; g < n_group; ++g) {
      const int first = group_ptr_[g];
      const int size = group_ptr_[g + 1] - first;
      if (size == 1) continue;
      const double* weight = w_.data() + weight_ptr_[g];
      for (int a = 0; a < size; ++a) {
        double t = 0.0;
        for (int b = 0; b < size; ++b) {
          if (usable[first + a] && usable[first + b]) t += weight[a * size + b] * in[first + b];
        }
        out[first + a] = t;
      }
    }
  }

  // H^T W r into rhs_ and the gain matrix into the factor's storage, from the current rows.
  // With `unit_rows`, every measurement in use (positive own weight) gets the weight
  // 1 / |h_a|^2 and no cross weights instead: the gain of the observability test.
  void assemble(bool unit_rows) {
    const std::vector<int>& ptr = rows_.ptr();
    const std::vector<int>& state = rows_.state();
    const std::vector<double>& value = rows_.value();
    const std::vector<char>& usable = rows_.usable();
    const std::size_t m = rows_.size();
    const std::size_t n_group = group_ptr_.size() - 1;
    weigh_rows(unit_rows);
    apply_weights(residual_.data(), drive_.data());
    std::fill(rhs_.begin(), rhs_.end(), 0.0);
    for (std::size_t r = 0; r < m; ++r) {
      const double t = drive_[r];
      if (t == 0.0) continue;
      for (int i = ptr[r]; i < ptr[r + 1]; ++i) rhs_[state[i]] += value[i] * t;
    }
    double* gain = ldl_.values();
    std::fill(gain, gain + ldl_.size(), 0.0);
    const std::size_t n_bundle = bundle_ptr_.size() - 1;
    for (std::size_t u = 0; u < n_bundle; ++u) {
      const int first = bundle_ptr_[u];
      const int count = bundle_ptr_[u + 1] - first;
      const int begin = ptr[first];
      const int length = ptr[first + 1] - begin;
      const int* slot = slots_.data() + slot_start_[first];
      if (count == 1) {
        const double w = own_weight_[first];
        if (w == 0.0) continue;
        const double* h = value.data() + begin;
        for (int i = 0; i < length; ++i) {
          const double scaled = w * h[i];
          for (int k = 0; k <= i; ++k) gain[*slot++] += scaled * h[k];
        }
      } else if (count == 2) {
        const double w0 = own_weight_[first];
        const double w1 = own_weight_[first + 1];
        const double* h0 = value.data() + begin;
        const double* h1 = value.data() + ptr[first + 1];
        for (int i = 0; i < length; ++i) {
          const double a0 = w0 * h0[i];
          const double a1 = w1 * h1[i];
          for (int k = 0; k <= i; ++k) gain[*slot++] += a0 * h0[k] + a1 * h1[k];
        }
      } else {
        for (int r = first; r < first + count; ++r) {
          const double w = own_weight_[r];
          const double* h = value.data() + ptr[r];
          const int* own = slot;
          for (int i = 0; i < length; ++i) {
            const double scaled = w * h[i];
            for (int k = 0; k <= i; ++k) gain[*own++] += scaled * h[k];
          }
        }
      }
    }
    if (unit_rows) return;
    for (std::size_t g = 0; g < n_group; ++g) {
      const int first = group_ptr_[g];
      const int size = group_ptr_[g + 1] - first;
      if (size == 1) continue;
      const double* weight = w_.data() + weight_ptr_[g];
      const int* cross = slots_.data() + cross_ptr_[g];
      for (int a = first; a < first + size; ++a) {
        for (int b = first; b < first + size; ++b) {
          if (b == a) continue;
          const bool both = usable[a] && usable[b];
          const double w_ab = both ? weight[(a - first) * size + (b - first)] : 0.0;
          for (int i = ptr[a]; i < ptr[a + 1]; ++i) {
            const double scaled = w_ab * value[i];
            for (int k = ptr[b]; k < ptr[b + 1]; ++k) {
              const int target = *cross++;
              if (target >= 0) gain[target] += scaled * value[k];
            }
          }
        }
      }
    }
  }

  // Galerkin correction of the step dx (in rhs_) along the voltage level of each island (all
  // its magnitudes up by the same amount): dx += a u with a = u^T (b - G dx) / u^T G u.
  // The gain of a large grid is badly conditioned in just that direction (power injections on
  // short cables fix voltage differences far more tightly than voltage meters fix their
  // level), so a plain solve gets the level wrong by a sizeable fraction and Gauss-Newton
  // would crawl. Both terms are formed from the rows (H u: their small, exact sums over
  // magnitudes), never from the gain's or b's large, nearly cancelling entries.
  void correct_levels() {
    const std::vector<int>& ptr = rows_.ptr();
    const std::vector<int>& state = rows_.state();
    const std::vector<double>& value = rows_.value();
    const std::size_t m = rows_.size();
    for (std::size_t r = 0; r < m; ++r) {
      double along_level = 0.0;
      double along_step = 0.0;
      for (int e = ptr[r]; e < ptr[r + 1]; ++e) {
        if (states_.is_magnitude[state[e]]) along_level += value[e];
        along_step += value[e] * rhs_[state[e]];
      }
      level_rows_[r] = along_level;
      step_rows_[r] = along_step;
    }
    apply_weights(level_rows_.data(), weighted_level_.data());
    std::fill(level_numerator_.begin(), level_numerator_.end(), 0.0);
    std::fill(level_denominator_.begin(), level_denominator_.end(), 0.0);
    // u^T (b - G dx) = (H u)^T W (r - H dx), accumulated row by row.
    for (std::size_t r = 0; r < m; ++r) {
      const int island = row_island_[r];
      level_denominator_[island] += level_rows_[r] * weighted_level_[r];
      level_numerator_[island] += (residual_[r] - step_rows_[r]) * weighted_level_[r];
    }
    for (int s = 0; s < n_state(); ++s) {
      if (!states_.is_magnitude[s]) continue;
      const int island = node_island_[states_.node[s]];
      if (level_denominator_[island] > 0.0) {
        rhs_[s] += level_numerator_[island] / level_denominator_[island];
      }
    }
  }

  double objective() const {
    double sum = 0.0;
    const std::size_t n_group = group_ptr_.size() - 1;
    for (std::size_t g = 0; g < n_group; ++g) {
      const int first = group_ptr_[g];
      const int size = group_ptr_[g + 1] - first;
      const double* weight = w_.data() + weight_ptr_[g];
      for (int a = 0; a < size; ++a) {
        for (int b = 0; b < size; ++b) {
          sum += residual_[first + a] * weight[a * size + b] * residual_[first + b];
        }
      }
    }
    return sum;
  }

  bool factor_at_estimate() {
    if (!factor_current_) {
      evaluate();
      assemble(false);
      factor_current_ = true;
      inverse_.clear();
      if (ldl_.factor(0.0) > 0) return false;
    }
    return ldl_.zero_pivots().empty();
  }

  bool inverse_at_estimate() {
    if (!factor_at_estimate()) return false;
    if (inverse_.empty()) ldl_.inverse_subset(inverse_);
    return true;
  }

  Network net_;
  std::vector<int> group_ptr_;
  StateMap states_;
  SparseLDL ldl_;
  Rows rows_;
  std::vector<int> slots_;
  std::vector<int> slot_start_;  // per row (rows of a bundle share their slots)
  std::vector<int> bundle_ptr_;  // consecutive rows sharing slots
  std::vector<int> cross_ptr_;   // per group
  std::vector<int> weight_ptr_;  // per group
  std::vector<int> row_weight_;  // per row: index of its own weight in w_
  std::vector<double> own_weight_, drive_;
  std::size_t weight_size_ = 0;
  std::vector<double> z_, w_, residual_, rhs_, vm_, va_, inverse_;
  std::vector<double> target_rhs_;
  std::vector<int> node_island_, row_island_;
  std::vector<double> level_rows_, step_rows_, weighted_level_, level_numerator_,
      level_denominator_;
  bool unit_rows_ = false;
  std::vector<complex> v_, injected_;
  std::vector<char> angle_measured_;
  Settings settings_;
  bool factor_current_ = false;
};

}  // namespace gridedge::wls
