// Backward/forward sweep power flow of a radial network given as an edge list.
//
// Vertices are electrical points (buses, branch terminals); edges are two-ports in
// transmission form, one set of coefficients per orientation: with the parent (feeding) end
// first, V_parent = a V + b J and I_parent = c V + d J, where J is the current the child
// draws from the edge. An ideal closed switch is (a, b, c, d) = (1, 0, 0, 1). Each slack
// vertex holds a fixed voltage; vertices no slack reaches are de-energised (voltage 0). Loads
// draw constant complex power. Plain C++17, no Python.
#pragma once

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace gridedge {

using Complex = std::complex<double>;

enum class SweepStatus { converged = 0, diverged = 1, meshed = 2 };

struct SweepResult {
  SweepStatus status;
  int iterations;
  // The slack whose tree closed a loop or met another slack's tree (meshed only), else -1.
  std::int64_t meshed_at;
};

struct RadialNetwork {
  std::size_t n_vertices;
  std::size_t n_edges;
  const std::int64_t* edge_a;   // n_edges
  const std::int64_t* edge_b;   // n_edges
  const Complex* coefficients;  // n_edges x 2 orientations x (a, b, c, d)
  std::size_t n_slacks;
  const std::int64_t* slack;     // n_slacks
  const Complex* slack_voltage;  // n_slacks
  const Complex* load;           // n_vertices, power drawn, p.u.
};

// 1 / z without the overflow guards of std::complex division.
inline Complex reciprocal(Complex z) {
  const double scale = 1.0 / (z.real() * z.real() + z.imag() * z.imag());
  return {z.real() * scale, -z.imag() * scale};
}

// Current drawn by constant power `s` at voltage `v`: conj(s / v) = s* v / |v|^2.
inline Complex load_current(Complex s, Complex v) {
  if (s == Complex(0.0, 0.0)) return s;
  const double scale = 1.0 / (v.real() * v.real() + v.imag() * v.imag());
  return {(s.real() * v.real() + s.imag() * v.imag()) * scale,
          (s.real() * v.imag() - s.imag() * v.real()) * scale};
}

// Solves `net`; writes every vertex's voltage to `voltage` (n_vertices). Inputs must be in
// range (the binding checks them).
inline SweepResult radial_sweep(const RadialNetwork& net, double tolerance, int max_iterations,
                                Complex* voltage) {
  const std::size_t n = net.n_vertices;
  // Adjacency in compressed rows: for each vertex, the incident edges.
  std::vector<std::size_t> start(n + 1, 0);
  for (std::size_t e = 0; e < net.n_edges; ++e) {
    ++start[net.edge_a[e] + 1];
    ++start[net.edge_b[e] + 1];
  }
  for (std::size_t v = 0; v < n; ++v) start[v + 1] += start[v];
  std::vector<std::size_t> incident(2 * net.n_edges);
  std::vector<std::size_t> fill(start.begin(), start.end() - 1);
  for (std::size_t e = 0; e < net.n_edges; ++e) {
    incident[fill[net.edge_a[e]]++] = e;
    incident[fill[net.edge_b[e]]++] = e;
  }

  // Breadth-first trees from the slacks; a second way into a vertex means a loop or two
  // sources in one island.
  constexpr std::int64_t kNone = -1;
  std::vector<std::int64_t> parent(n, kNone);
  std::vector<std::int64_t> via(n, kNone);
  std::vector<char> reached(n, 0);
  std::vector<std::size_t> order;
  order.reserve(n);
  std::vector<Complex> abcd(4 * n, Complex(0.0, 0.0));
  std::fill(voltage, voltage + n, Complex(0.0, 0.0));
  for (std::size_t s = 0; s < net.n_slacks; ++s) {
    const auto root = static_cast<std::size_t>(net.slack[s]);
    if (reached[root]) return {SweepStatus::meshed, 0, static_cast<std::int64_t>(s)};
    reached[root] = 1;
    voltage[root] = net.slack_voltage[s];
    std::size_t head = order.size();
    order.push_back(root);
    while (head < order.size()) {
      const std::size_t here = order[head++];
      for (std::size_t k = start[here]; k < start[here + 1]; ++k) {
        const std::size_t e = incident[k];
        if (static_cast<std::int64_t>(e) == via[here]) continue;
        const bool forward = static_cast<std::size_t>(net.edge_a[e]) == here;
        const auto there = static_cast<std::size_t>(forward ? net.edge_b[e] : net.edge_a[e]);
        if (reached[there]) return {SweepStatus::meshed, 0, static_cast<std::int64_t>(s)};
        reached[there] = 1;
        parent[there] = static_cast<std::int64_t>(here);
        via[there] = static_cast<std::int64_t>(e);
        const Complex* c = net.coefficients + 8 * e + (forward ? 0 : 4);
        std::copy(c, c + 4, abcd.begin() + 4 * there);
        voltage[there] = Complex(1.0, 0.0);
        order.push_back(there);
      }
    }
  }

  // Complex division through std::complex calls a slow library routine that guards against
  // overflow; voltages here are near 1 p.u., so plain arithmetic is safe and much faster.
  std::vector<Complex> inverse_a(n);
  for (const std::size_t v : order) {
    if (parent[v] != kNone) inverse_a[v] = reciprocal(abcd[4 * v]);
  }
  std::vector<Complex> drawn(n), downstream(n);
  for (int iteration = 1; iteration <= max_iterations; ++iteration) {
    std::fill(downstream.begin(), downstream.end(), Complex(0.0, 0.0));
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      const std::size_t v = *it;
      drawn[v] = load_current(net.load[v], voltage[v]) + downstream[v];
      if (parent[v] != kNone) {
        const Complex* t = &abcd[4 * v];
        downstream[parent[v]] += t[2] * voltage[v] + t[3] * drawn[v];
      }
    }
    double change = 0.0;
    for (const std::size_t v : order) {
      if (parent[v] == kNone) continue;
      const Complex updated = (voltage[parent[v]] - abcd[4 * v + 1] * drawn[v]) * inverse_a[v];
      change = std::max(change, std::norm(updated - voltage[v]));
      voltage[v] = updated;
    }
    change = std::sqrt(change);
    if (!(change < 1e300)) return {SweepStatus::diverged, iteration, kNone};  // inf or nan
    if (change < tolerance) return {SweepStatus::converged, iteration, kNone};
  }
  return {SweepStatus::diverged, max_iterations, kNone};
}

// Labels the connected components of an undirected graph: labels[v] is the component number,
// numbered in the order of each component's smallest vertex. Returns the number of components.
inline std::size_t connected_components(std::size_t n_vertices, std::size_t n_edges,
                                        const std::int64_t* edge_a, const std::int64_t* edge_b,
                                        std::int64_t* labels) {
  std::vector<std::size_t> parent(n_vertices);
  for (std::size_t v = 0; v < n_vertices; ++v) parent[v] = v;
  auto find = [&parent](std::size_t v) {
    while (parent[v] != v) {
      parent[v] = parent[parent[v]];
      v = parent[v];
    }
    return v;
  };
  for (std::size_t e = 0; e < n_edges; ++e) {
    const std::size_t ra = find(static_cast<std::size_t>(edge_a[e]));
    const std::size_t rb = find(static_cast<std::size_t>(edge_b[e]));
    // The smaller root wins, so each root is its component's smallest vertex.
    if (ra < rb) parent[rb] = ra;
    if (rb < ra) parent[ra] = rb;
  }
  std::vector<std::int64_t> number(n_vertices, -1);
  std::int64_t count = 0;
  for (std::size_t v = 0; v < n_vertices; ++v) {
    const std::size_t root = find(v);
    if (number[root] < 0) number[root] = count++;
    labels[v] = number[root];
  }
  return static_cast<std::size_t>(count);
}

}  // namespace gridedge
