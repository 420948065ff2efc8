// Sparse LDL^T factorisation of symmetric positive (semi-)definite matrices.
//
// Three phases, each reusable:
//   1. minimum_degree(): a fill-reducing elimination order of a graph, computed on the explicit
//      elimination graph. The neighbours of a vertex when it is eliminated are exactly the rows of
//      its column in the factor, so the order comes with the symbolic factorisation for free.
//      On radial and near-radial grids (trees whose vertices are joined to their 2-hop
//      neighbours by the measurement functions) eliminating leaves first creates no fill.
//   2. SparseLDL(pattern): the column pattern of L, fixed; slot() maps a matrix entry to its
//      storage, so a caller assembles the matrix straight into the factor's storage.
//   3. factor() / solve() / inverse_subset() / null_vector(): numeric work on the fixed pattern,
//      allocation-free.
// Plain C++17, no Python.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <queue>
#include <stdexcept>
#include <utility>
#include <vector>

namespace gridedge {

// An elimination order and the symbolic factor it produces, over the vertices of a graph.
struct Elimination {
  std::vector<int> order;        // order[k]: vertex eliminated k-th
  std::vector<int> position;     // position[v]: when vertex v is eliminated
  std::vector<int> pattern_ptr;  // pattern[pattern_ptr[k] .. pattern_ptr[k + 1]): positions (> k,
  std::vector<int> pattern;      // ascending) of the neighbours of order[k] when it is eliminated
};

// Minimum-degree order of the graph with `n` vertices and `adjacency` (symmetric, without
// self-loops; duplicates allowed). Ties go to the lower vertex number, so the order is
// deterministic.
inline Elimination minimum_degree(int n, std::vector<std::vector<int>> adjacency) {
  if (static_cast<int>(adjacency.size()) != n) {
    throw std::invalid_argument("adjacency must have one list per vertex");
  }
  for (auto& list : adjacency) {
    std::sort(list.begin(), list.end());
    list.erase(std::unique(list.begin(), list.end()), list.end());
  }
  using Entry = std::pair<std::size_t, int>;  // (degree, vertex)
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> queue;
  for (int v = 0; v < n; ++v) queue.emplace(adjacency[v].size(), v);
  std::vector<char> eliminated(n, 0);
  std::vector<std::vector<int>> neighbours_at_elimination(n);
  Elimination result;
  result.order.reserve(n);
  result.position.assign(n, -1);
  std::vector<int> merged;
  while (!queue.empty()) {
    const auto [degree, v] = queue.top();
    queue.pop();
    if (eliminated[v] || degree != adjacency[v].size()) continue;  // stale entry
    eliminated[v] = 1;
    result.position[v] = static_cast<int>(result.order.size());
    result.order.push_back(v);
    const std::vector<int>& clique = adjacency[v];
    // Every neighbour loses v and gains the other neighbours: they become a clique.
    for (int u : clique) {
      std::vector<int>& list = adjacency[u];
      merged.clear();
      merged.reserve(list.size() + clique.size());
      std::set_union(list.begin(), list.end(), clique.begin(), clique.end(),
                     std::back_inserter(merged));
      merged.erase(
          std::remove_if(merged.begin(), merged.end(), [u, v](int w) { return w == u || w == v; }),
          merged.end());
      list.swap(merged);
      queue.emplace(list.size(), u);
    }
    neighbours_at_elimination[v] = clique;
    adjacency[v].clear();
    adjacency[v].shrink_to_fit();
  }
  result.pattern_ptr.assign(1, 0);
  for (int k = 0; k < n; ++k) {
    const std::vector<int>& rows = neighbours_at_elimination[result.order[k]];
    const std::size_t start = result.pattern.size();
    for (int u : rows) result.pattern.push_back(result.position[u]);
    std::sort(result.pattern.begin() + static_cast<std::ptrdiff_t>(start), result.pattern.end());
    result.pattern_ptr.push_back(static_cast<int>(result.pattern.size()));
  }
  return result;
}

// LDL^T factor with a fixed pattern: L unit lower triangular (strictly lower part stored by
// columns), D diagonal. Storage of a matrix entry or factor value ("slot"): the diagonal of
// column j at j, the entry (row, col) below it at n + its position in the column pattern.
class SparseLDL {
 public:
  SparseLDL() = default;

  // `col_ptr` (n + 1) and `row_idx`: strictly-lower pattern of L by columns, rows ascending. It
  // must be closed under elimination (as minimum_degree() produces).
  SparseLDL(std::vector<int> col_ptr, std::vector<int> row_idx)
      : n_(static_cast<int>(col_ptr.size()) - 1),
        col_ptr_(std::move(col_ptr)),
        row_idx_(std::move(row_idx)),
        values_(static_cast<std::size_t>(n_) + row_idx_.size(), 0.0),
        diagonal_(n_, 0.0),
        work_(n_, 0.0),
        head_(n_, -1),
        next_(n_, -1),
        cursor_(n_, 0) {
    if (n_ < 0) throw std::invalid_argument("col_ptr must not be empty");
  }

  int n() const noexcept { return n_; }
  std::size_t nnz() const noexcept { return row_idx_.size(); }
  std::size_t size() const noexcept { return values_.size(); }
  double* values() noexcept { return values_.data(); }
  const double* values() const noexcept { return values_.data(); }
  const std::vector<int>& zero_pivots() const noexcept { return zero_pivots_; }

  // Slot of entry (row, col), row >= col; -1 when the pattern does not hold it.
  long slot(int row, int col) const {
    if (row == col) return col;
    const auto first = row_idx_.begin() + col_ptr_[col];
    const auto last = row_idx_.begin() + col_ptr_[col + 1];
    const auto found = std::lower_bound(first, last, row);
    if (found == last || *found != row) return -1;
    return static_cast<long>(n_) + static_cast<long>(found - row_idx_.begin());
  }

  std::size_t memory_bytes() const noexcept {
    return (col_ptr_.size() + row_idx_.size() + head_.size() + next_.size() + cursor_.size()) *
               sizeof(int) +
           (values_.size() + diagonal_.size() + work_.size()) * sizeof(double);
  }

  // Factorise in place the matrix assembled in values() (lower triangle). A pivot below
  // `pivot_tolerance` times its original diagonal is zero: its column is dropped (L column and D
  // entry 0), which leaves G = L D L^T exact for a positive semi-definite G. Returns the number
  // of zero pivots (zero_pivots() lists them).
  int factor(double pivot_tolerance) {
    double* d = values_.data();
    double* l = values_.data() + n_;
    std::copy(d, d + n_, diagonal_.begin());
    std::fill(head_.begin(), head_.end(), -1);
    zero_pivots_.clear();
    for (int j = 0; j < n_; ++j) {
      const int begin = col_ptr_[j];
      const int end = col_ptr_[j + 1];
      double pivot = d[j];
      for (int p = begin; p < end; ++p) work_[row_idx_[p]] = l[p];
      // Left-looking: subtract the columns k < j whose row j is nonzero. Each waits in the
      // list of the next row it updates.
      for (int k = head_[j]; k != -1;) {
        const int following = next_[k];
        const int p = cursor_[k];
        const double ljk = l[p];
        const double scaled = ljk * d[k];
        pivot -= ljk * scaled;
        const int stop = col_ptr_[k + 1];
        for (int q = p + 1; q < stop; ++q) work_[row_idx_[q]] -= l[q] * scaled;
        enqueue(k, p + 1);
        k = following;
      }
      if (!(pivot > pivot_tolerance * diagonal_[j]) || !(diagonal_[j] > 0.0)) {
        zero_pivots_.push_back(j);
        d[j] = 0.0;
        for (int p = begin; p < end; ++p) {
          l[p] = 0.0;
          work_[row_idx_[p]] = 0.0;
        }
        continue;
      }
      d[j] = pivot;
      const double inverse = 1.0 / pivot;
      for (int p = begin; p < end; ++p) {
        double& w = work_[row_idx_[p]];
        l[p] = w * inverse;
        w = 0.0;
      }
      enqueue(j, begin);
    }
    return static_cast<int>(zero_pivots_.size());
  }

  // Solve G x = b in place (b in, x out). Components along zero pivots are set to 0.
  void solve(double* x) const {
    const double* d = values_.data();
    const double* l = values_.data() + n_;
    for (int j = 0; j < n_; ++j) {
      const double xj = x[j];
      if (xj == 0.0) continue;
      for (int p = col_ptr_[j]; p < col_ptr_[j + 1]; ++p) x[row_idx_[p]] -= l[p] * xj;
    }
    for (int j = 0; j < n_; ++j) x[j] = d[j] != 0.0 ? x[j] / d[j] : 0.0;
    back_substitute(x);
  }

  // Solve L y = b in place and scale by D^-1/2, so that b^T G^-1 c = y_b . y_c.
  void half_solve(double* x) const {
    const double* d = values_.data();
    const double* l = values_.data() + n_;
    for (int j = 0; j < n_; ++j) {
      const double xj = x[j];
      if (xj == 0.0) continue;
      for (int p = col_ptr_[j]; p < col_ptr_[j + 1]; ++p) x[row_idx_[p]] -= l[p] * xj;
    }
    for (int j = 0; j < n_; ++j) x[j] = d[j] != 0.0 ? x[j] / std::sqrt(d[j]) : 0.0;
  }

  // A vector of the null space of G: L^T x = e_k for the zero pivot k.
  void null_vector(int k, double* x) const {
    std::fill(x, x + n_, 0.0);
    x[k] = 1.0;
    back_substitute(x);
  }

  // Entries of G^-1 on the pattern of L (Takahashi's recurrence), in the slot layout. Needs a
  // factor without zero pivots. `z` is resized to size().
  void inverse_subset(std::vector<double>& z) const {
    const double* d = values_.data();
    const double* l = values_.data() + n_;
    z.assign(values_.size(), 0.0);
    double* zd = z.data();
    double* zl = z.data() + n_;
    std::vector<double> column;
    for (int j = n_ - 1; j >= 0; --j) {
      const int begin = col_ptr_[j];
      const int count = col_ptr_[j + 1] - begin;
      const int* rows = row_idx_.data() + begin;
      column.assign(count, 0.0);
      // Z(r_a, j) = -sum_b L(r_b, j) Z(r_a, r_b), over the rows r_a, r_b of column j. The rows
      // form a clique of the filled graph, so Z(r_a, r_b) (a > b) sits in column r_b.
      for (int b = 0; b < count; ++b) {
        const int k = rows[b];
        const double lb = l[begin + b];
        column[b] -= lb * zd[k];
        int q = col_ptr_[k];
        for (int a = b + 1; a < count; ++a) {
          while (row_idx_[q] != rows[a]) ++q;
          const double zab = zl[q];
          column[a] -= lb * zab;
          column[b] -= l[begin + a] * zab;
        }
      }
      double diagonal = 1.0 / d[j];
      for (int a = 0; a < count; ++a) {
        zl[begin + a] = column[a];
        diagonal -= l[begin + a] * column[a];
      }
      zd[j] = diagonal;
    }
  }

 private:
  void enqueue(int column, int position) {
    cursor_[column] = position;
    if (position < col_ptr_[column + 1]) {
      const int row = row_idx_[position];
      next_[column] = head_[row];
      head_[row] = column;
    }
  }

  void back_substitute(double* x) const {
    const double* l = values_.data() + n_;
    for (int j = n_ - 1; j >= 0; --j) {
      double sum = x[j];
      for (int p = col_ptr_[j]; p < col_ptr_[j + 1]; ++p) sum -= l[p] * x[row_idx_[p]];
      x[j] = sum;
    }
  }

  int n_ = 0;
  std::vector<int> col_ptr_;
  std::vector<int> row_idx_;
  std::vector<double> values_;
  std::vector<double> diagonal_;  // the matrix's diagonal before factorisation
  std::vector<double> work_;
  std::vector<int> head_;
  std::vector<int> next_;
  std::vector<int> cursor_;
  std::vector<int> zero_pivots_;
};

}  // namespace gridedge
