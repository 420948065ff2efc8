// Weighted-least-squares state estimation of a balanced (positive-sequence) network.
//
// State: voltage angle (rad) and magnitude (p.u.) of every node, except the angles of reference
// nodes, which stay fixed. Measurement functions h(x): voltage magnitude and angle of a node,
// active and reactive power injected at a node, active and reactive power flowing from a node
// into a branch, magnitude and angle of the current into a branch (p.u. and rad). Gauss-Newton:
// G dx = H^T W (z - h(x)), G = H^T W H, with W block diagonal (correlated groups allowed), until
// the distance still to go is within tolerance (see Estimator::solve()).
//
// Each node's angle and magnitude form one 2 x 2 block of the gain matrix (a reference node's
// angle gets an identity row: its step is 0). Everything structural is prepared once: the
// fill-reducing order of the nodes, the block pattern of the factor, and for every pair of
// Jacobian entries the block its product goes to. An iteration then evaluates h and H,
// accumulates G directly into the factor's storage, factorises in place and solves - no
// allocation, no index search. Plain C++17, no Python.
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
// gain matrix broke down (a pivot not positive) at a later point; kBadCovariance: a group's
// covariance (over its measurements in use) is not finite and positive definite.
enum Status : int {
  kConverged = 0,
  kUnobservable = 1,
  kNotConverged = 2,
  kDiverged = 3,
  kSingular = 4,
  kBadCovariance = 5,
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
  int state = -1;        // scalar state the status refers to (largest step, bad magnitude), or -1
  int group = -1;        // for kBadCovariance: the group
  double objective = 0.0;
};

// Inverts the symmetric positive definite n x n matrix `a` (row-major) in place through its
// Cholesky factor, using `work` (n * n). False, leaving `a` undefined, if it is not finite and
// positive definite.
inline bool invert_spd(double* a, int n, std::vector<double>& work) {
  work.assign(static_cast<std::size_t>(n) * n, 0.0);
  double* l = work.data();  // lower triangle: L, then L^-1
  for (int j = 0; j < n; ++j) {
    for (int i = j; i < n; ++i) {
      double sum = a[i * n + j];
      for (int k = 0; k < j; ++k) sum -= l[i * n + k] * l[j * n + k];
      if (i == j) {
        if (!(sum > 0.0) || !std::isfinite(sum)) return false;
        l[j * n + j] = std::sqrt(sum);
      } else {
        l[i * n + j] = sum / l[j * n + j];
      }
    }
  }
  for (int j = 0; j < n; ++j) {
    l[j * n + j] = 1.0 / l[j * n + j];
    for (int i = j + 1; i < n; ++i) {
      double sum = 0.0;
      for (int k = j; k < i; ++k) sum -= l[i * n + k] * l[k * n + j];
      l[i * n + j] = sum / l[i * n + i];
    }
  }
  for (int i = 0; i < n; ++i) {  // A^-1 = L^-T L^-1
    for (int j = 0; j <= i; ++j) {
      double sum = 0.0;
      for (int k = i; k < n; ++k) sum += l[k * n + i] * l[k * n + j];
      a[i * n + j] = sum;
      a[j * n + i] = sum;
    }
  }
  return true;
}

// Where each node's pair (angle, magnitude) sits: block position[node], scalar states
// 2 position (angle) and 2 position + 1 (magnitude).
struct Layout {
  std::vector<int> position;  // per node
  std::vector<int> node;      // per block
  std::vector<char> fixed;    // per node: its angle is a reference
};

// The nodes a quantity depends on: its node, then its neighbours (an injection) or the other end
// of its branch (a flow or current; none where open).
inline void nodes_of(const Network& net, const Quantities& q, std::size_t r,
                     std::vector<int>& out) {
  out.clear();
  const int k = q.node[r];
  out.push_back(k);
  const int kind = q.kind[r];
  if (kind == kActiveInjection || kind == kReactiveInjection) {
    for (int p = net.y_ptr[k]; p < net.y_ptr[k + 1]; ++p) {
      if (net.y_idx[p] != k) out.push_back(net.y_idx[p]);
    }
  } else if (kind >= kActiveFlow) {
    const int other = q.end[r] == 0 ? net.to[q.branch[r]] : net.from[q.branch[r]];
    if (other >= 0) out.push_back(other);
  }
}

// Measurement functions and their Jacobian rows, for one list of quantities.
//
// Every quantity is the magnitude, angle, real or imaginary part of a complex "source": a node
// voltage, the power injected at a node, or the power or current into a branch end. Its
// derivatives along the (angle, magnitude) of the nodes involved follow from those of the
// source: d|C| = Re(conj(C) dC) / |C|, d arg C = Im(conj(C) dC) / |C|^2. Consecutive quantities
// of one source (P and Q of a node, |I| and arg I of a branch end) share its evaluation. A row
// holds one entry per node, ordered by block, with its two derivatives (angle, magnitude).
class Rows {
 public:
  Rows() = default;

  Rows(const Network& net, const Quantities& q, const Layout& layout) : q_(q) {
    const std::size_t m = q.size();
    ptr_.assign(1, 0);
    term_ptr_.assign(1, 0);
    shared_.assign(m, 0);
    std::vector<int> nodes;
    std::vector<std::pair<int, int>> entries;  // (block, term)
    std::size_t most_terms = 0;
    for (std::size_t r = 0; r < m; ++r) {
      nodes_of(net, q, r, nodes);
      entries.clear();
      for (std::size_t t = 0; t < nodes.size(); ++t) {
        entries.emplace_back(layout.position[nodes[t]], static_cast<int>(t));
      }
      std::sort(entries.begin(), entries.end());
      const std::size_t base = target_.size();
      target_.resize(base + nodes.size(), -1);
      for (std::size_t e = 0; e < entries.size(); ++e) {
        block_.push_back(entries[e].first);
        angle_free_.push_back(!layout.fixed[nodes[entries[e].second]]);
        target_[base + static_cast<std::size_t>(entries[e].second)] = static_cast<int>(e);
      }
      ptr_.push_back(static_cast<int>(block_.size()));
      term_ptr_.push_back(static_cast<int>(target_.size()));
      const int source = source_of(q.kind[r]);
      if (r > 0 && source == source_of(q.kind[r - 1]) && q.node[r] == q.node[r - 1] &&
          (source < kBranchPower || (q.branch[r] == q.branch[r - 1] && q.end[r] == q.end[r - 1]))) {
        shared_[r] = 1;
      }
      most_terms = std::max(most_terms, nodes.size());
    }
    slope_.assign(2 * most_terms, complex(0.0, 0.0));
    value_.assign(2 * block_.size(), 0.0);
    h_.assign(m, 0.0);
    usable_.assign(m, 1);
  }

  std::size_t size() const noexcept { return h_.size(); }
  const std::vector<int>& ptr() const noexcept { return ptr_; }
  const std::vector<int>& block() const noexcept { return block_; }     // per entry
  const std::vector<double>& value() const noexcept { return value_; }  // 2 per entry
  const std::vector<double>& h() const noexcept { return h_; }
  const std::vector<char>& usable() const noexcept { return usable_; }

  std::size_t memory_bytes() const noexcept {
    return (ptr_.size() + block_.size() + target_.size() + term_ptr_.size() + 4 * q_.size()) *
               sizeof(int) +
           (value_.size() + h_.size()) * sizeof(double) + usable_.size() + shared_.size() +
           angle_free_.size() + slope_.size() * sizeof(complex);
  }

  // h(x) and the Jacobian rows at node voltages `v` (complex, p.u.) of magnitudes 1 / `inv_vm`,
  // with nodal currents `injected` = Y v. A current below `min_current` has no defined direction:
  // rows of its magnitude or angle are marked unusable for this evaluation. With `only`, just
  // the rows it lists (ascending) are evaluated; the others keep their values.
  void evaluate(const Network& net, const complex* v, const double* inv_vm, const complex* injected,
                double min_current, const std::vector<int>* only = nullptr) {
    complex c = 0.0;
    int nodes = 0;
    const std::size_t count = only != nullptr ? only->size() : h_.size();
    std::size_t previous = h_.size();  // the row whose source is in c and slope_
    for (std::size_t k = 0; k < count; ++k) {
      const std::size_t r = only != nullptr ? static_cast<std::size_t>((*only)[k]) : k;
      if (!shared_[r] || previous + 1 != r) nodes = source(net, r, v, inv_vm, injected, c);
      previous = r;
      const int kind = q_.kind[r];
      const int* target = target_.data() + term_ptr_[r];
      const int first = ptr_[r];
      double* row = value_.data() + 2 * static_cast<std::size_t>(first);
      const char* free = angle_free_.data() + first;
      const double magnitude = std::sqrt(std::norm(c));
      usable_[r] = 1;
      auto put = [&](int t, double angle, double along) {
        const int e = target[t];
        row[2 * e] = free[e] ? angle : 0.0;
        row[2 * e + 1] = along;
      };
      switch (kind) {
        case kActiveInjection:
        case kActiveFlow:
          h_[r] = c.real();
          for (int t = 0; t < nodes; ++t) put(t, slope_[2 * t].real(), slope_[2 * t + 1].real());
          continue;
        case kReactiveInjection:
        case kReactiveFlow:
          h_[r] = c.imag();
          for (int t = 0; t < nodes; ++t) put(t, slope_[2 * t].imag(), slope_[2 * t + 1].imag());
          continue;
        default:
          break;
      }
      const bool along = kind == kVoltageMagnitude || kind == kCurrentMagnitude;
      h_[r] = along ? magnitude : std::arg(c);
      if (!(magnitude >= min_current)) {
        usable_[r] = 0;
        for (int t = 0; t < nodes; ++t) put(t, 0.0, 0.0);
        continue;
      }
      const complex turned =
          std::conj(c) * (along ? 1.0 / magnitude : 1.0 / (magnitude * magnitude));
      for (int t = 0; t < nodes; ++t) {
        const complex da = turned * slope_[2 * t];
        const complex dm = turned * slope_[2 * t + 1];
        put(t, along ? da.real() : da.imag(), along ? dm.real() : dm.imag());
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

  // The complex source of row r into `c` and its derivatives into slope_ (angle, magnitude of
  // each node in nodes_of() order); returns the number of nodes.
  int source(const Network& net, std::size_t r, const complex* v, const double* inv_vm,
             const complex* injected, complex& c) {
    const complex j(0.0, 1.0);
    const int k = q_.node[r];
    const complex vk = v[k];
    const complex unit = vk * inv_vm[k];  // dV_k / d|V_k|; dV_k / d(angle) = j V_k
    switch (source_of(q_.kind[r])) {
      case kNodeVoltage:
        c = vk;
        slope_[0] = j * vk;
        slope_[1] = unit;
        return 1;
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
          slope_[term++] = vk * std::conj(y_v * inv_vm[m]);
        }
        c = vk * std::conj(current);
        slope_[0] = j * c + vk * std::conj(j * y_kk * vk);
        slope_[1] = unit * std::conj(current) + vk * std::conj(y_kk * unit);
        return term / 2;
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
          slope_[3] = y_other * vt * inv_vm[other];
          terms = 4;
        }
        if (source_of(q_.kind[r]) == kBranchCurrent) {
          c = current;
          return terms / 2;
        }
        // S = V conj(I): dS/dx = dV/dx conj(I) + V conj(dI/dx).
        c = vk * std::conj(current);
        const complex own[2] = {j * vk, unit};
        for (int t = 0; t < terms; ++t) {
          slope_[t] = vk * std::conj(slope_[t]);
          if (t < 2) slope_[t] += own[t] * std::conj(current);
        }
        return terms / 2;
      }
    }
  }

  Quantities q_;
  std::vector<int> ptr_;          // row r: entries ptr_[r] .. ptr_[r + 1]
  std::vector<int> block_;        // block of each entry, ascending within a row
  std::vector<char> angle_free_;  // per entry: the node's angle is a state
  std::vector<double> value_;     // dh/d(angle), dh/d(magnitude) of each entry
  std::vector<int> term_ptr_;     // nodes of row r in nodes_of() order ...
  std::vector<int> target_;       // ... and the entry of each
  std::vector<char> shared_;      // row r has the source of row r - 1
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
    std::vector<int> members;
    std::vector<int> nodes;
    for (std::size_t g = 0; g + 1 < group_ptr_.size(); ++g) {
      members.clear();
      for (int r = group_ptr_[g]; r < group_ptr_[g + 1]; ++r) {
        nodes_of(net_, measured, static_cast<std::size_t>(r), nodes);
        members.insert(members.end(), nodes.begin(), nodes.end());
      }
      std::sort(members.begin(), members.end());
      members.erase(std::unique(members.begin(), members.end()), members.end());
      for (int a : members) {
        for (int b : members) {
          if (a != b) adjacency[a].push_back(b);
        }
      }
    }
    Elimination elimination = minimum_degree(n, std::move(adjacency));
    layout_.position = std::move(elimination.position);
    layout_.node = std::move(elimination.order);
    layout_.fixed.assign(net_.fixed_angle.begin(), net_.fixed_angle.end());
    free_states_ =
        2 * n - static_cast<int>(std::count(layout_.fixed.begin(), layout_.fixed.end(), 1));
    ldl_ = BlockLDL(std::move(elimination.pattern_ptr), std::move(elimination.pattern));
    rows_ = Rows(net_, measured, layout_);
    prepare_slots();
    const std::size_t m = measured.size();
    z_.assign(m, 0.0);
    w_.assign(weight_size_, 0.0);
    residual_.assign(m, 0.0);
    rhs_.assign(2 * static_cast<std::size_t>(n), 0.0);
    target_rhs_.assign(2 * static_cast<std::size_t>(n), 0.0);
    find_islands(measured);
    level_rows_.assign(m, 0.0);
    weighted_level_.assign(m, 0.0);
    gain_level_.assign(2 * static_cast<std::size_t>(n), 0.0);
    vm_.assign(n, 1.0);
    inv_vm_.assign(n, 1.0);
    va_.assign(n, 0.0);
    v_.assign(n, complex(1.0, 0.0));
    injected_.assign(n, complex(0.0, 0.0));
    angle_measured_.resize(m);
    for (std::size_t r = 0; r < m; ++r) {
      angle_measured_[r] = measured.kind[r] == kVoltageAngle || measured.kind[r] == kCurrentAngle;
    }
  }

  int n_node() const noexcept { return net_.n_node; }
  int n_state() const noexcept { return free_states_; }  // angles of references excluded
  std::size_t n_measurement() const noexcept { return rows_.size(); }
  std::size_t weight_size() const noexcept { return weight_size_; }
  std::size_t factor_nonzeros() const noexcept { return 4 * ldl_.nnz(); }
  int node_of_state(int state) const noexcept { return layout_.node[state / 2]; }
  const std::vector<double>& estimates() const noexcept { return rows_.h(); }
  const std::vector<double>& voltage_magnitude() const noexcept { return vm_; }
  const std::vector<double>& voltage_angle() const noexcept { return va_; }

  std::size_t memory_bytes() const noexcept {
    return ldl_.memory_bytes() + rows_.memory_bytes() +
           (slots_.size() + slot_start_.size() + bundle_ptr_.size() + cross_ptr_.size() +
            weight_ptr_.size() + group_ptr_.size() + row_weight_.size() + in_use_.size() +
            3 * layout_.position.size() + row_island_.size()) *
               sizeof(int) +
           (z_.size() + w_.size() + residual_.size() + rhs_.size() + vm_.size() + va_.size() +
            inverse_.size() + own_weight_.size() + drive_.size() + target_rhs_.size() +
            level_rows_.size() + weighted_level_.size() + gain_level_.size() + level_y_.size()) *
               sizeof(double) +
           (v_.size() + injected_.size() + net_.y_val.size() + net_.two_port.size()) *
               sizeof(complex);
  }

  // Gauss-Newton from (vm, va) (per node, p.u. and rad; fixed angles stay). `z` holds the
  // measured values (p.u., rad), `covariance` the covariance blocks (each group's, row-major,
  // p.u.^2) and `active` which measurements are in use; the weights are the inverses of the
  // blocks restricted to the members in use. With `check_observability`, the
  // first step is preceded by the observability test (kUnobservable when it fails). On return
  // the estimate is in voltage_magnitude() / voltage_angle() and, with kConverged, h(x) at it
  // in estimates().
  //
  // Stopping rule: the distance to the solution, estimated from the last step (and, once the
  // iteration contracts, from the contraction of the last two), is at most `tolerance` in every
  // state variable, or at most `tolerance_sd` standard deviations of the estimate along any
  // direction (sqrt(dx^T G dx) bounds |u^T dx| / sd(u^T x) for every u); the second keeps
  // badly conditioned directions (the voltage level of a large grid) from demanding precision
  // far below their uncertainty.
  Report solve(const double* z, const double* covariance, const bool* active, const double* vm,
               const double* va, const Settings& settings, bool check_observability) {
    Report report;
    report.group = weigh(covariance, active);
    if (report.group >= 0) {
      report.status = kBadCovariance;
      return report;
    }
    std::copy(z, z + z_.size(), z_.begin());
    std::copy(vm, vm + vm_.size(), vm_.begin());
    std::copy(va, va + va_.size(), va_.begin());
    settings_ = settings;
    inverse_.clear();
    deflated_ = false;
    in_use_.clear();
    for (std::size_t r = 0; r < rows_.size(); ++r) {
      if (w_[row_weight_[r]] > 0.0) in_use_.push_back(static_cast<int>(r));
    }
    // Rows out of use keep weight 0 and never enter the per-row loops.
    std::fill(own_weight_.begin(), own_weight_.end(), 0.0);
    std::fill(drive_.begin(), drive_.end(), 0.0);
    std::fill(level_rows_.begin(), level_rows_.end(), 0.0);
    std::fill(weighted_level_.begin(), weighted_level_.end(), 0.0);
    double last_step = 1.0;
    double last_step_sd = 1.0;
    for (int iteration = 0; iteration < settings.max_iterations; ++iteration) {
      evaluate(true);
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
      double decrement = 0.0;
      for (int b = 0; b < n_node(); ++b) {
        const int node = layout_.node[b];
        for (int c = layout_.fixed[node] ? 1 : 0; c < 2; ++c) {
          const double dx = rhs_[2 * b + c];
          decrement += dx * target_rhs_[2 * b + c];
          if (!std::isfinite(dx)) {
            finite = false;
            worst = 2 * b + c;
          } else if (finite && std::abs(dx) > step) {
            step = std::abs(dx);
            worst = 2 * b + c;
          }
        }
        if (!layout_.fixed[node]) va_[node] += rhs_[2 * b];
        vm_[node] += rhs_[2 * b + 1];
      }
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
          report.state = 2 * layout_.position[node] + 1;
          return report;
        }
      }
      // Once the iteration contracts (rho = this step / the last < 1/2), the distance still
      // to go is at most about rho / (1 - rho) times this step: stop when that is within
      // tolerance, or when the step itself is.
      const double rho = iteration > 0 ? step / last_step : 1.0;
      const double rho_sd = iteration > 0 ? report.step_sd / last_step_sd : 1.0;
      const double to_go = rho < 0.5 ? step * rho / (1.0 - rho) : step;
      const double to_go_sd =
          rho_sd < 0.5 ? report.step_sd * rho_sd / (1.0 - rho_sd) : report.step_sd;
      last_step = step;
      last_step_sd = report.step_sd;
      if (std::min(step, to_go) <= settings.tolerance ||
          std::min(report.step_sd, to_go_sd) <= settings.tolerance_sd) {
        // The factor of the last iterate's gain serves the covariances: the estimate differs
        // from that iterate by less than the tolerance.
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
    std::vector<double> x(2 * static_cast<std::size_t>(n_node()));
    for (int state : ldl_.zero_pivots()) {
      ldl_.null_vector(state, x.data());
      double largest = 0.0;
      for (double value : x) largest = std::max(largest, std::abs(value));
      for (std::size_t s = 0; s < x.size(); ++s) {
        if (std::abs(x[s]) > kNullComponent * largest) flagged[layout_.node[s / 2]] = 1;
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
    const std::vector<int>& block = rows_.block();
    const std::vector<double>& value = rows_.value();
    for (std::size_t r = 0; r < rows_.size(); ++r) {
      const int* slot = slots_.data() + slot_start_[r];
      double sum = 0.0;
      double level = 0.0;  // u^T h
      double along = 0.0;  // y^T h
      for (int i = ptr[r]; i < ptr[r + 1]; ++i) {
        const double* hi = value.data() + 2 * i;
        level += hi[1];
        along += hi[0] * level_y_[2 * block[i]] + hi[1] * level_y_[2 * block[i] + 1];
        for (int k = ptr[r]; k <= i; ++k) {
          const double* hk = value.data() + 2 * k;
          const double* zb = inverse_.data() + 4 * static_cast<std::size_t>(*slot++);
          const double form =
              hi[0] * (zb[0] * hk[0] + zb[1] * hk[1]) + hi[1] * (zb[2] * hk[0] + zb[3] * hk[1]);
          sum += k == i ? form : 2.0 * form;
        }
      }
      out[r] = sum + level_correction(row_island_[r], level, along, level, along);
    }
    return true;
  }

  // Variances of the state at the estimate, per node (0 for a fixed angle). False if singular.
  bool state_variance(double* angle, double* magnitude) {
    if (!inverse_at_estimate()) return false;
    for (int node = 0; node < n_node(); ++node) {
      const int b = layout_.position[node];
      const double* zb = inverse_.data() + 4 * static_cast<std::size_t>(b);
      angle[node] = layout_.fixed[node] ? 0.0 : zb[0];
      const double y = level_y_[2 * b + 1];
      magnitude[node] = zb[3] + level_correction(node_island_[node], 1.0, y, 1.0, y);
    }
    return true;
  }

  // Values and covariance J G^-1 J^T (row-major, size^2) of `derived` quantities at the
  // estimate, through one forward solve per quantity. False if the gain matrix is singular.
  bool derived(const Quantities& derived, double* values, double* covariance) {
    if (!(derived.kind == derived_q_.kind && derived.node == derived_q_.node &&
          derived.branch == derived_q_.branch && derived.end == derived_q_.end)) {
      check(derived);
      derived_rows_ = Rows(net_, derived, layout_);  // the same quantities every call: kept
      derived_q_ = derived;
    }
    if (!factor_at_estimate()) return false;
    Rows& rows = derived_rows_;
    rows.evaluate(net_, v_.data(), inv_vm_.data(), injected_.data(), settings_.min_current);
    prepare_deflation();
    const std::size_t k = derived.size();
    const std::size_t n = 2 * static_cast<std::size_t>(n_node());
    std::vector<double> y(k * n, 0.0);
    std::vector<double> level(k, 0.0);
    std::vector<double> along(k, 0.0);
    for (std::size_t r = 0; r < k; ++r) {
      values[r] = rows.h()[r];
      double* column = y.data() + r * n;
      for (int e = rows.ptr()[r]; e < rows.ptr()[r + 1]; ++e) {
        const int b = rows.block()[e];
        column[2 * b] = rows.value()[2 * e];
        column[2 * b + 1] = rows.value()[2 * e + 1];
        level[r] += rows.value()[2 * e + 1];
        along[r] += column[2 * b] * level_y_[2 * b] + column[2 * b + 1] * level_y_[2 * b + 1];
      }
      ldl_.forward(column);
    }
    for (std::size_t a = 0; a < k; ++a) {
      const int island_a = node_island_[derived.node[a]];
      for (std::size_t b = 0; b <= a; ++b) {
        double sum = ldl_.inverse_d_dot(y.data() + a * n, y.data() + b * n);
        if (node_island_[derived.node[b]] == island_a) {
          sum += level_correction(island_a, level[a], along[a], level[b], along[b]);
        }
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
    level_step_.assign(islands, 0.0);
    level_gy_.assign(islands, 0.0);
    level_y_.assign(2 * static_cast<std::size_t>(n), 0.0);
  }

  // The weight blocks w_ from the covariance blocks: each group's inverse over its members in
  // use, zero for the others. Returns the first group whose block is not finite and positive
  // definite, or -1.
  int weigh(const double* covariance, const bool* active) {
    const std::size_t n_group = group_ptr_.size() - 1;
    for (std::size_t g = 0; g < n_group; ++g) {
      const int first = group_ptr_[g];
      const int size = group_ptr_[g + 1] - first;
      const double* c = covariance + weight_ptr_[g];
      double* w = w_.data() + weight_ptr_[g];
      if (size == 1) {
        const double variance = c[0];
        if (!active[first]) {
          w[0] = 0.0;
        } else if (variance > 0.0 && std::isfinite(variance)) {
          w[0] = 1.0 / variance;
        } else {
          return static_cast<int>(g);
        }
        continue;
      }
      members_.clear();
      for (int a = 0; a < size; ++a) {
        if (active[first + a]) members_.push_back(a);
      }
      std::fill(w, w + size * size, 0.0);
      const int used = static_cast<int>(members_.size());
      block_.resize(static_cast<std::size_t>(used) * used);
      for (int i = 0; i < used; ++i) {
        for (int k = 0; k < used; ++k) block_[i * used + k] = c[members_[i] * size + members_[k]];
      }
      if (!invert_spd(block_.data(), used, work_)) return static_cast<int>(g);
      for (int i = 0; i < used; ++i) {
        for (int k = 0; k < used; ++k) w[members_[i] * size + members_[k]] = block_[i * used + k];
      }
    }
    return -1;
  }

  // For each row, the block slots of its entry pairs (i >= k, in row order), shared by
  // consecutive uncorrelated rows with the same entries (a bundle: P and Q of one node); for
  // each group of more than one row, the slots of the cross pairs (row a entry i, row b entry k),
  // -1 where entry i's block precedes entry k's.
  void prepare_slots() {
    const std::vector<int>& ptr = rows_.ptr();
    const std::vector<int>& block = rows_.block();
    auto slot_of = [&](int bi, int bk) -> int {
      const long found = bi >= bk ? ldl_.slot(bi, bk) : -1;
      if (bi >= bk && found < 0) throw std::logic_error("gain block outside the factor pattern");
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
                        ptr[r + 1] - ptr[r] == ptr[r] - ptr[r - 1] &&
                        std::equal(block.begin() + ptr[r], block.begin() + ptr[r + 1],
                                   block.begin() + ptr[r - 1]);
      if (same) {
        slot_start_[r] = slot_start_[r - 1];
        continue;
      }
      if (r > 0) bundle_ptr_.push_back(static_cast<int>(r));
      slot_start_[r] = static_cast<int>(slots_.size());
      for (int i = ptr[r]; i < ptr[r + 1]; ++i) {
        for (int k = ptr[r]; k <= i; ++k) slots_.push_back(slot_of(block[i], block[k]));
      }
    }
    bundle_ptr_.push_back(static_cast<int>(m));
    for (std::size_t g = 0; g < n_group; ++g) {
      if (group_ptr_[g + 1] - group_ptr_[g] > 1) correlated_.push_back(static_cast<int>(g));
    }
    cross_ptr_.assign(1, static_cast<int>(slots_.size()));
    for (std::size_t g = 0; g < n_group; ++g) {
      const int first = group_ptr_[g];
      const int last = group_ptr_[g + 1];
      for (int a = first; a < last; ++a) {
        for (int b = first; b < last; ++b) {
          if (a == b) continue;
          for (int i = ptr[a]; i < ptr[a + 1]; ++i) {
            for (int k = ptr[b]; k < ptr[b + 1]; ++k) slots_.push_back(slot_of(block[i], block[k]));
          }
        }
      }
      cross_ptr_.push_back(static_cast<int>(slots_.size()));
    }
    own_weight_.assign(m, 0.0);
    drive_.assign(m, 0.0);
  }

  // Measurement functions at the current state: all rows, or with `in_use_only` the rows whose
  // own weight is positive (the others do not enter the gain matrix).
  void evaluate(bool in_use_only = false) {
    const int n = n_node();
    for (int node = 0; node < n; ++node) {
      v_[node] = std::polar(vm_[node], va_[node]);
      inv_vm_[node] = 1.0 / vm_[node];
    }
    for (int node = 0; node < n; ++node) {
      complex sum = 0.0;
      for (int p = net_.y_ptr[node]; p < net_.y_ptr[node + 1]; ++p) {
        sum += net_.y_val[p] * v_[net_.y_idx[p]];
      }
      injected_[node] = sum;
    }
    rows_.evaluate(net_, v_.data(), inv_vm_.data(), injected_.data(), settings_.min_current,
                   in_use_only ? &in_use_ : nullptr);
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
    for (const int r : in_use_) {
      double w = usable[r] ? w_[row_weight_[r]] : 0.0;
      if (unit_rows && w > 0.0) {
        double norm = 0.0;
        for (int i = 2 * ptr[r]; i < 2 * ptr[r + 1]; ++i) norm += value[i] * value[i];
        w = norm > 0.0 ? 1.0 / norm : 0.0;
      }
      own_weight_[r] = w;
    }
  }

  // out = W in over the rows in use (the others stay 0), with the weights of the last
  // weigh_rows().
  void apply_weights(const double* in, double* out) const {
    const std::vector<char>& usable = rows_.usable();
    for (const int r : in_use_) out[r] = own_weight_[r] * in[r];
    if (unit_rows_) return;
    for (const int g : correlated_) {
      const int first = group_ptr_[g];
      const int size = group_ptr_[g + 1] - first;
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
    const std::vector<int>& block = rows_.block();
    const std::vector<double>& value = rows_.value();
    const std::vector<char>& usable = rows_.usable();
    weigh_rows(unit_rows);
    apply_weights(residual_.data(), drive_.data());
    std::fill(rhs_.begin(), rhs_.end(), 0.0);
    for (const int r : in_use_) {
      const double t = drive_[r];
      if (t == 0.0) continue;
      for (int i = ptr[r]; i < ptr[r + 1]; ++i) {
        rhs_[2 * block[i]] += value[2 * i] * t;
        rhs_[2 * block[i] + 1] += value[2 * i + 1] * t;
      }
    }
    if (!unit_rows) prepare_levels();
    double* gain = ldl_.values();
    std::fill(gain, gain + 4 * ldl_.size(), 0.0);
    const std::size_t n_bundle = bundle_ptr_.size() - 1;
    for (std::size_t u = 0; u < n_bundle; ++u) {
      const int first = bundle_ptr_[u];
      const int count = bundle_ptr_[u + 1] - first;
      const int length = ptr[first + 1] - ptr[first];
      const int* slot = slots_.data() + slot_start_[first];
      for (int r = first; r < first + count; r += 2) {
        // Rows of a bundle two at a time: P and Q of one node in one pass over the slots.
        const double w0 = own_weight_[r];
        const double w1 = r + 1 < first + count ? own_weight_[r + 1] : 0.0;
        if (w0 == 0.0 && w1 == 0.0) continue;
        const double* h0 = value.data() + 2 * ptr[r];
        const double* h1 = w1 != 0.0 ? value.data() + 2 * ptr[r + 1] : h0;
        const int* s = slot;
        for (int i = 0; i < length; ++i) {
          const double a0 = w0 * h0[2 * i];
          const double a1 = w0 * h0[2 * i + 1];
          const double b0 = w1 * h1[2 * i];
          const double b1 = w1 * h1[2 * i + 1];
          for (int k = 0; k <= i; ++k) {
            double* g = gain + 4 * static_cast<std::size_t>(*s++);
            const double c0 = h0[2 * k];
            const double c1 = h0[2 * k + 1];
            const double d0 = h1[2 * k];
            const double d1 = h1[2 * k + 1];
            g[0] += a0 * c0 + b0 * d0;
            g[1] += a0 * c1 + b0 * d1;
            g[2] += a1 * c0 + b1 * d0;
            g[3] += a1 * c1 + b1 * d1;
          }
        }
      }
    }
    if (!unit_rows) {
      for (const int g : correlated_) {
        const int first = group_ptr_[g];
        const int size = group_ptr_[g + 1] - first;
        const double* weight = w_.data() + weight_ptr_[g];
        const int* cross = slots_.data() + cross_ptr_[g];
        for (int a = first; a < first + size; ++a) {
          for (int b = first; b < first + size; ++b) {
            if (b == a) continue;
            const bool both = usable[a] && usable[b];
            const double w_ab = both ? weight[(a - first) * size + (b - first)] : 0.0;
            for (int i = ptr[a]; i < ptr[a + 1]; ++i) {
              const double a0 = w_ab * value[2 * i];
              const double a1 = w_ab * value[2 * i + 1];
              for (int k = ptr[b]; k < ptr[b + 1]; ++k) {
                const int target = *cross++;
                if (target < 0) continue;
                double* gb = gain + 4 * static_cast<std::size_t>(target);
                gb[0] += a0 * value[2 * k];
                gb[1] += a0 * value[2 * k + 1];
                gb[2] += a1 * value[2 * k];
                gb[3] += a1 * value[2 * k + 1];
              }
            }
          }
        }
      }
    }
    // A reference angle is no state: an identity row keeps its step 0.
    for (int node = 0; node < n_node(); ++node) {
      if (layout_.fixed[node]) gain[4 * static_cast<std::size_t>(layout_.position[node])] = 1.0;
    }
  }

  std::size_t n_group() const noexcept { return group_ptr_.size() - 1; }

  // Galerkin correction of the step dx (in rhs_) along the voltage level of each island (all
  // its magnitudes up by the same amount): dx += a u with a = u^T (b - G dx) / u^T G u.
  // The gain of a large grid is badly conditioned in just that direction (power injections on
  // short cables fix voltage differences far more tightly than voltage meters fix their
  // level), so a plain solve gets the level wrong by a sizeable fraction and Gauss-Newton
  // would crawl. Every term is formed from the rows (H u: their small, exact sums over
  // magnitudes), never from the gain's or b's large, nearly cancelling entries:
  // u^T b = (H u)^T W r, u^T G u = (H u)^T W (H u), u^T G dx = (H^T W H u)^T dx.
  void prepare_levels() {
    const std::vector<int>& ptr = rows_.ptr();
    const std::vector<int>& block = rows_.block();
    const std::vector<double>& value = rows_.value();
    for (const int r : in_use_) {
      double along_level = 0.0;
      if (own_weight_[r] != 0.0) {
        for (int e = ptr[r]; e < ptr[r + 1]; ++e) along_level += value[2 * e + 1];
      }
      level_rows_[r] = along_level;
    }
    apply_weights(level_rows_.data(), weighted_level_.data());
    std::fill(level_numerator_.begin(), level_numerator_.end(), 0.0);
    std::fill(level_denominator_.begin(), level_denominator_.end(), 0.0);
    std::fill(gain_level_.begin(), gain_level_.end(), 0.0);
    for (const int r : in_use_) {
      const double t = weighted_level_[r];
      if (t == 0.0) continue;
      const int island = row_island_[r];
      level_denominator_[island] += level_rows_[r] * t;
      level_numerator_[island] += residual_[r] * t;
      for (int e = ptr[r]; e < ptr[r + 1]; ++e) {
        gain_level_[2 * block[e]] += value[2 * e] * t;
        gain_level_[2 * block[e] + 1] += value[2 * e + 1] * t;
      }
    }
  }

  void correct_levels() {
    std::copy(level_numerator_.begin(), level_numerator_.end(), level_step_.begin());
    for (int b = 0; b < n_node(); ++b) {
      const int island = node_island_[layout_.node[b]];
      level_step_[island] -=
          gain_level_[2 * b] * rhs_[2 * b] + gain_level_[2 * b + 1] * rhs_[2 * b + 1];
    }
    for (int b = 0; b < n_node(); ++b) {
      const int island = node_island_[layout_.node[b]];
      if (level_denominator_[island] > 0.0) {
        rhs_[2 * b + 1] += level_step_[island] / level_denominator_[island];
      }
    }
  }

  double objective() const {
    double sum = 0.0;
    for (std::size_t g = 0; g < n_group(); ++g) {
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

  // The factor of the gain at the estimate: the last iterate's, kept by solve().
  bool factor_at_estimate() const { return ldl_.zero_pivots().empty(); }

  bool inverse_at_estimate() {
    if (!factor_at_estimate()) return false;
    if (inverse_.empty()) ldl_.inverse_subset(inverse_);
    prepare_deflation();
    return true;
  }

  // G^-1 = P G^-1 P^T + sum over islands of u u^T / s, with u the island's voltage level,
  // s = u^T G u and P = I - sum u g^T / s the G-orthogonal projection off it (g = G u). The
  // gain of a large grid is so badly conditioned along u (condition 1e16 on an LV feeder of
  // 70 buses) that any factor gets G^-1 wrong there; P removes that error from the factor's
  // part, and s, g come exactly from the rows (prepare_levels() of the last iterate). This
  // keeps y = G^-1 g and g^T y per island for level_correction().
  void prepare_deflation() {
    if (deflated_) return;
    std::copy(gain_level_.begin(), gain_level_.end(), level_y_.begin());
    ldl_.solve(level_y_.data());
    std::fill(level_gy_.begin(), level_gy_.end(), 0.0);
    for (int b = 0; b < n_node(); ++b) {
      level_gy_[node_island_[layout_.node[b]]] +=
          gain_level_[2 * b] * level_y_[2 * b] + gain_level_[2 * b + 1] * level_y_[2 * b + 1];
    }
    deflated_ = true;
  }

  // What (P^T h)^T G^-1 (P^T h') + (u^T h)(u^T h') / s adds to h^T Z h' for quantities of
  // `island` with u^T h = level, y^T h = along (and likewise for h').
  double level_correction(int island, double level, double along, double level2,
                          double along2) const {
    const double s = level_denominator_[island];
    if (!(s > 0.0)) return 0.0;
    const double c = level / s;
    const double c2 = level2 / s;
    return -c * along2 - c2 * along + c * c2 * level_gy_[island] + level * level2 / s;
  }

  Network net_;
  std::vector<int> group_ptr_;
  Layout layout_;
  int free_states_ = 0;
  BlockLDL ldl_;
  Rows rows_;
  std::vector<int> slots_;
  std::vector<int> slot_start_;  // per row (rows of a bundle share their slots)
  std::vector<int> bundle_ptr_;  // consecutive rows sharing slots
  std::vector<int> cross_ptr_;   // per group
  std::vector<int> weight_ptr_;  // per group
  std::vector<int> row_weight_;  // per row: index of its own weight in w_
  std::vector<int> correlated_;  // groups of more than one row
  std::vector<double> own_weight_, drive_;
  std::size_t weight_size_ = 0;
  std::vector<double> z_, w_, residual_, rhs_, vm_, inv_vm_, va_, inverse_;
  std::vector<double> target_rhs_;
  std::vector<int> node_island_, row_island_;
  std::vector<double> level_rows_, weighted_level_, gain_level_;          // H u, W H u, H^T W H u
  std::vector<double> level_numerator_, level_denominator_, level_step_;  // per island
  std::vector<double> level_y_, level_gy_;  // G^-1 g, and g^T G^-1 g per island
  bool deflated_ = false;
  bool unit_rows_ = false;
  std::vector<complex> v_, injected_;
  std::vector<char> angle_measured_;
  Settings settings_;
  std::vector<int> in_use_;   // rows with a positive own weight in this solve
  std::vector<int> members_;  // weigh(): a group's members in use, their block, scratch
  std::vector<double> block_, work_;
  Quantities derived_q_;  // the derived quantities of the last call, and their rows
  Rows derived_rows_;
};

}  // namespace gridedge::wls
