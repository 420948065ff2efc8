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
  double tolerance = 1e-8;  // stop when max |dx| <= tolerance (rad, p.u.)
  int max_iterations = 30;
  double pivot_tolerance = 1e-10;  // observability: relative to the unit-row gain's diagonal
  double min_current = 1e-9;       // p.u.; below it a current's magnitude and angle have no slope
  double max_magnitude = 3.0;      // p.u.; a magnitude outside (0, max) means divergence
};

struct Report {
  int status = kConverged;
  int iterations = 0;  // Gauss-Newton steps taken (for kSingular: before the breakdown)
  double step = 0.0;   // last max |dx|
  int state = -1;      // state index the status refers to (largest step, bad magnitude), or -1
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
class Rows {
 public:
  Rows() = default;

  Rows(const Network& net, const Quantities& q, const StateMap& states) : q_(q) {
    const std::size_t m = q.size();
    ptr_.assign(1, 0);
    term_ptr_.assign(1, 0);
    std::vector<std::pair<int, int>> entries;  // (state, term)
    for (std::size_t r = 0; r < m; ++r) {
      entries.clear();
      int term = 0;
      auto add = [&](int node, bool magnitude) {
        const int s = magnitude ? states.magnitude[node] : states.angle[node];
        if (s >= 0) entries.emplace_back(s, term);
        ++term;
      };
      const int k = q.node[r];
      switch (q.kind[r]) {
        case kVoltageMagnitude:
          add(k, true);
          break;
        case kVoltageAngle:
          add(k, false);
          break;
        case kActiveInjection:
        case kReactiveInjection:
          add(k, false);
          add(k, true);
          for (int p = net.y_ptr[k]; p < net.y_ptr[k + 1]; ++p) {
            if (net.y_idx[p] == k) continue;
            add(net.y_idx[p], false);
            add(net.y_idx[p], true);
          }
          break;
        default: {
          const int b = q.branch[r];
          const int other = q.end[r] == 0 ? net.to[b] : net.from[b];
          add(k, false);
          add(k, true);
          if (other >= 0) {
            add(other, false);
            add(other, true);
          }
        }
      }
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
  int kind(std::size_t r) const noexcept { return q_.kind[r]; }

  std::size_t memory_bytes() const noexcept {
    return (ptr_.size() + state_.size() + target_.size() + term_ptr_.size() + 4 * q_.size()) *
               sizeof(int) +
           (value_.size() + h_.size()) * sizeof(double) + usable_.size();
  }

  // h(x) and the Jacobian rows at voltages `v` (complex, p.u.) with nodal currents
  // `injected` = Y v. A current whose magnitude is below `min_current` has no defined slope:
  // its row is marked unusable for this evaluation.
  void evaluate(const Network& net, const complex* v, const complex* injected, double min_current) {
    const complex j(0.0, 1.0);
    min_current_ = min_current;
    for (std::size_t r = 0; r < h_.size(); ++r) {
      const int k = q_.node[r];
      const int base = term_ptr_[r];
      double* row = value_.data() + ptr_[r];
      auto put = [&](int term, double value) {
        const int t = target_[static_cast<std::size_t>(base + term)];
        if (t >= 0) row[t] = value;
      };
      const complex vk = v[k];
      const double magnitude = std::abs(vk);
      const complex unit = magnitude > 0.0 ? vk / magnitude : complex(1.0, 0.0);
      usable_[r] = 1;
      switch (q_.kind[r]) {
        case kVoltageMagnitude:
          h_[r] = magnitude;
          put(0, 1.0);
          break;
        case kVoltageAngle:
          h_[r] = std::arg(vk);
          put(0, 1.0);
          break;
        case kActiveInjection:
        case kReactiveInjection: {
          const bool active = q_.kind[r] == kActiveInjection;
          const complex current = injected[k];
          complex y_kk = 0.0;
          int term = 2;
          for (int p = net.y_ptr[k]; p < net.y_ptr[k + 1]; ++p) {
            const int m = net.y_idx[p];
            if (m == k) {
              y_kk = net.y_val[p];
              continue;
            }
            // dS_k/dx_m = V_k conj(Y_km dV_m/dx)
            const complex ym_vm = net.y_val[p] * v[m];
            const complex d_angle = vk * std::conj(j * ym_vm);
            const complex d_magnitude = vk * std::conj(ym_vm / std::abs(v[m]));
            put(term++, active ? d_angle.real() : d_angle.imag());
            put(term++, active ? d_magnitude.real() : d_magnitude.imag());
          }
          const complex s = vk * std::conj(current);
          // dS_k/dx_k = dV_k/dx conj(I_k) + V_k conj(Y_kk dV_k/dx)
          const complex d_angle = j * s + vk * std::conj(j * y_kk * vk);
          const complex d_magnitude = unit * std::conj(current) + vk * std::conj(y_kk * unit);
          h_[r] = active ? s.real() : s.imag();
          put(0, active ? d_angle.real() : d_angle.imag());
          put(1, active ? d_magnitude.real() : d_magnitude.imag());
          break;
        }
        default:
          evaluate_branch(net, r, v, put);
      }
    }
  }

 private:
  template <class Put>
  void evaluate_branch(const Network& net, std::size_t r, const complex* v, Put& put) {
    const complex j(0.0, 1.0);
    const int b = q_.branch[r];
    const bool at_from = q_.end[r] == 0;
    const int own = q_.node[r];
    const int other = at_from ? net.to[b] : net.from[b];
    const complex* y = net.two_port.data() + 4 * static_cast<std::size_t>(b);
    const complex y_own = at_from ? y[0] : y[3];
    const complex y_other = at_from ? y[1] : y[2];
    const complex vo = v[own];
    const double mo = std::abs(vo);
    // Current into the branch and its derivatives along (angle, magnitude) of both ends.
    complex current = y_own * vo;
    complex di[4] = {j * y_own * vo, y_own * vo / mo, 0.0, 0.0};
    if (other >= 0) {
      const complex vt = v[other];
      current += y_other * vt;
      di[2] = j * y_other * vt;
      di[3] = y_other * vt / std::abs(vt);
    }
    const int terms = other >= 0 ? 4 : 2;
    const int kind = q_.kind[r];
    if (kind == kActiveFlow || kind == kReactiveFlow) {
      const bool active = kind == kActiveFlow;
      const complex s = vo * std::conj(current);
      const complex dv[2] = {j * vo, vo / mo};
      h_[r] = active ? s.real() : s.imag();
      for (int t = 0; t < terms; ++t) {
        complex ds = vo * std::conj(di[t]);
        if (t < 2) ds += dv[t] * std::conj(current);
        put(t, active ? ds.real() : ds.imag());
      }
      return;
    }
    const double magnitude = std::abs(current);
    if (kind == kCurrentMagnitude) {
      h_[r] = magnitude;
    } else {
      h_[r] = std::arg(current);
    }
    if (!(magnitude >= min_current_)) {
      usable_[r] = 0;
      for (int t = 0; t < terms; ++t) put(t, 0.0);
      return;
    }
    for (int t = 0; t < terms; ++t) {
      const complex product = std::conj(current) * di[t];
      put(t, kind == kCurrentMagnitude ? product.real() / magnitude
                                       : product.imag() / (magnitude * magnitude));
    }
  }

  Quantities q_;
  std::vector<int> ptr_;       // row r: entries ptr_[r] .. ptr_[r + 1]
  std::vector<int> state_;     // state index of each entry, ascending within a row
  std::vector<double> value_;  // dh/dx of each entry
  std::vector<int> term_ptr_;  // evaluation terms of row r
  std::vector<int> target_;    // entry of each term, -1 for a fixed angle
  std::vector<double> h_;
  std::vector<char> usable_;
  double min_current_ = 1e-9;
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
           (slots_.size() + slot_ptr_.size() + cross_ptr_.size() + weight_ptr_.size() +
            group_ptr_.size()) *
               sizeof(int) +
           (z_.size() + w_.size() + residual_.size() + rhs_.size() + vm_.size() + va_.size() +
            inverse_.size()) *
               sizeof(double) +
           (v_.size() + injected_.size() + net_.y_val.size() + net_.two_port.size()) *
               sizeof(complex);
  }

  // Gauss-Newton from (vm, va) (per node, p.u. and rad; fixed angles stay). `z` holds the
  // measured values (p.u., rad) and `w` the weight blocks. On return the estimate is in
  // voltage_magnitude() / voltage_angle() and, with kConverged, h(x) at it in estimates().
  Report solve(const double* z, const double* w, const double* vm, const double* va,
               const Settings& settings) {
    std::copy(z, z + z_.size(), z_.begin());
    std::copy(w, w + w_.size(), w_.begin());
    std::copy(vm, vm + vm_.size(), vm_.begin());
    std::copy(va, va + va_.size(), va_.begin());
    settings_ = settings;
    factor_current_ = false;
    Report report;
    for (int iteration = 0; iteration < settings.max_iterations; ++iteration) {
      evaluate();
      if (iteration == 0) {
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
      ldl_.solve(rhs_.data());
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
      report.iterations = iteration + 1;
      report.step = step;
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
      if (step <= settings.tolerance) {
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
        if (std::abs(x[s]) > 1e-8 * largest) flagged[states_.node[s]] = 1;
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
      const int* slot = slots_.data() + slot_ptr_[r];
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
    rows.evaluate(net_, v_.data(), injected_.data(), settings_.min_current);
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

  // For each row, the slots of its entry pairs (i >= k, in row order); for each group of more
  // than one row, the slots of the cross pairs (row a entry i, row b entry k), -1 above the
  // diagonal.
  void prepare_slots() {
    const std::vector<int>& ptr = rows_.ptr();
    const std::vector<int>& state = rows_.state();
    auto slot_of = [&](int si, int sk) -> int {
      const long found = si >= sk ? ldl_.slot(si, sk) : -1;
      if (si >= sk && found < 0) throw std::logic_error("gain entry outside the factor pattern");
      return static_cast<int>(found);
    };
    slot_ptr_.assign(1, 0);
    for (std::size_t r = 0; r < rows_.size(); ++r) {
      for (int i = ptr[r]; i < ptr[r + 1]; ++i) {
        for (int k = ptr[r]; k <= i; ++k) slots_.push_back(slot_of(state[i], state[k]));
      }
      slot_ptr_.push_back(static_cast<int>(slots_.size()));
    }
    const std::size_t n_group = group_ptr_.size() - 1;
    cross_ptr_.assign(1, static_cast<int>(slots_.size()));
    weight_ptr_.assign(1, 0);
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
      const int size = last - first;
      weight_ptr_.push_back(weight_ptr_.back() + size * size);
    }
    weight_size_ = static_cast<std::size_t>(weight_ptr_.back());
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
    rows_.evaluate(net_, v_.data(), injected_.data(), settings_.min_current);
    const std::vector<double>& h = rows_.h();
    for (std::size_t r = 0; r < h.size(); ++r) {
      double residual = z_[r] - h[r];
      if (angle_measured_[r]) residual = std::remainder(residual, kTwoPi);
      residual_[r] = residual;
    }
  }

  // Gain matrix into the factor's storage and H^T W r into rhs_, from the current rows. With
  // `unit_rows`, every measurement in use (positive own weight) gets the weight 1 / |h_a|^2
  // and no cross weights instead: the gain of the observability test.
  void assemble(bool unit_rows) {
    double* gain = ldl_.values();
    std::fill(gain, gain + ldl_.size(), 0.0);
    std::fill(rhs_.begin(), rhs_.end(), 0.0);
    const std::vector<int>& ptr = rows_.ptr();
    const std::vector<int>& state = rows_.state();
    const std::vector<double>& value = rows_.value();
    const std::vector<char>& usable = rows_.usable();
    const std::size_t n_group = group_ptr_.size() - 1;
    for (std::size_t g = 0; g < n_group; ++g) {
      const int first = group_ptr_[g];
      const int size = group_ptr_[g + 1] - first;
      const double* weight = w_.data() + weight_ptr_[g];
      const int* cross = slots_.data() + cross_ptr_[g];
      for (int a = first; a < first + size; ++a) {
        if (!usable[a]) {
          if (size > 1) cross += skip_cross(a, first, size);
          continue;
        }
        // t = sum_b W_ab r_b drives the right-hand side; W_aa the row's own pairs.
        double t = 0.0;
        for (int b = first; b < first + size; ++b) {
          if (usable[b]) t += weight[(a - first) * size + (b - first)] * residual_[b];
        }
        double w_aa = weight[(a - first) * size + (a - first)];
        if (unit_rows) {
          double norm = 0.0;
          for (int i = ptr[a]; i < ptr[a + 1]; ++i) norm += value[i] * value[i];
          w_aa = w_aa > 0.0 && norm > 0.0 ? 1.0 / norm : 0.0;
        }
        const int* slot = slots_.data() + slot_ptr_[a];
        for (int i = ptr[a]; i < ptr[a + 1]; ++i) {
          rhs_[state[i]] += value[i] * t;
          const double scaled = w_aa * value[i];
          for (int k = ptr[a]; k <= i; ++k) gain[*slot++] += scaled * value[k];
        }
        if (unit_rows) {
          if (size > 1) cross += skip_cross(a, first, size);
          continue;
        }
        for (int b = first; b < first + size; ++b) {
          if (b == a) continue;
          const double w_ab = weight[(a - first) * size + (b - first)];
          for (int i = ptr[a]; i < ptr[a + 1]; ++i) {
            const double scaled = usable[b] ? w_ab * value[i] : 0.0;
            for (int k = ptr[b]; k < ptr[b + 1]; ++k) {
              const int s = *cross++;
              if (s >= 0) gain[s] += scaled * value[k];
            }
          }
        }
      }
    }
  }

  int skip_cross(int a, int first, int size) const {
    const std::vector<int>& ptr = rows_.ptr();
    int count = 0;
    for (int b = first; b < first + size; ++b) {
      if (b != a) count += (ptr[a + 1] - ptr[a]) * (ptr[b + 1] - ptr[b]);
    }
    return count;
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
  std::vector<int> slot_ptr_;    // per row
  std::vector<int> cross_ptr_;   // per group
  std::vector<int> weight_ptr_;  // per group
  std::size_t weight_size_ = 0;
  std::vector<double> z_, w_, residual_, rhs_, vm_, va_, inverse_;
  std::vector<complex> v_, injected_;
  std::vector<char> angle_measured_;
  Settings settings_;
  bool factor_current_ = false;
};

}  // namespace gridedge::wls
