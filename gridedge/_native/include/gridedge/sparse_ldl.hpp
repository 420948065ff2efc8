// Sparse block LDL^T factorisation of symmetric positive (semi-)definite matrices made of dense
// 2 x 2 blocks (in state estimation: the angle and magnitude of each node).
//
// Three phases, each reusable:
//   1. minimum_degree(): a fill-reducing elimination order of a graph, computed on the explicit
//      elimination graph. The neighbours of a vertex when it is eliminated are exactly the rows of
//      its column in the factor, so the order comes with the symbolic factorisation for free.
//      On radial and near-radial grids (trees whose vertices are joined to their 2-hop
//      neighbours by the measurement functions) eliminating leaves first creates no fill.
//   2. BlockLDL(pattern): the block column pattern of L, fixed; slot() maps a block of the
//      matrix to its storage, so a caller assembles the matrix straight into the factor.
//   3. factor() / solve() / inverse_subset() / null_vector(): numeric work on the fixed pattern,
//      allocation-free.
// Plain C++17, no Python.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <iterator>
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

// 2 x 2 blocks are four doubles, row-major: [a b; c d].
namespace block {

// c -= a b^T
inline void subtract_abt(double* c, const double* a, const double* b) noexcept {
  c[0] -= a[0] * b[0] + a[1] * b[1];
  c[1] -= a[0] * b[2] + a[1] * b[3];
  c[2] -= a[2] * b[0] + a[3] * b[1];
  c[3] -= a[2] * b[2] + a[3] * b[3];
}

// c -= a b
inline void subtract_ab(double* c, const double* a, const double* b) noexcept {
  c[0] -= a[0] * b[0] + a[1] * b[2];
  c[1] -= a[0] * b[1] + a[1] * b[3];
  c[2] -= a[2] * b[0] + a[3] * b[2];
  c[3] -= a[2] * b[1] + a[3] * b[3];
}

// c -= a^T b
inline void subtract_atb(double* c, const double* a, const double* b) noexcept {
  c[0] -= a[0] * b[0] + a[2] * b[2];
  c[1] -= a[0] * b[1] + a[2] * b[3];
  c[2] -= a[1] * b[0] + a[3] * b[2];
  c[3] -= a[1] * b[1] + a[3] * b[3];
}

}  // namespace block

// LDL^T factor with a fixed pattern of 2 x 2 blocks, kept in scalar form:
// G = L diag(d) L^T with L unit lower triangular, whose diagonal blocks are [1 0; m_k 1] and
// whose blocks below are stored by block columns. Storage ("slots", four doubles each): block
// k of the diagonal at k (before factor(): the matrix's diagonal block; after: p_k, m_k, m_k,
// e_k, the pivots d = (p_k, e_k) and m_k), the block (row, col) below it at n + its position
// in the column pattern. Scalar state i is component i % 2 of block i / 2. Keeping the two
// pivots of a block apart (never forming the block D_k = [p m p; m p m^2 p + e]) matters: when
// m^2 p >> e, D_k has lost e to rounding, and a badly conditioned gain loses its accuracy.
class BlockLDL {
 public:
  BlockLDL() = default;

  // `col_ptr` (n + 1) and `row_idx`: strictly-lower block pattern of L by columns, rows
  // ascending. It must be closed under elimination (as minimum_degree() produces).
  BlockLDL(std::vector<int> col_ptr, std::vector<int> row_idx)
      : n_(blocks_of(col_ptr)),
        col_ptr_(std::move(col_ptr)),
        row_idx_(std::move(row_idx)),
        values_(4 * (static_cast<std::size_t>(n_) + row_idx_.size()), 0.0),
        diagonal_(2 * static_cast<std::size_t>(n_), 0.0),
        work_(4 * static_cast<std::size_t>(n_), 0.0),
        head_(n_, -1),
        next_(n_, -1),
        cursor_(n_, 0) {}

  int n() const noexcept { return n_; }                         // blocks on the diagonal
  std::size_t nnz() const noexcept { return row_idx_.size(); }  // blocks below it
  std::size_t size() const noexcept { return values_.size() / 4; }
  double* values() noexcept { return values_.data(); }
  const std::vector<int>& zero_pivots() const noexcept { return zero_pivots_; }

  // Slot of block (row, col), row >= col; -1 when the pattern does not hold it.
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

  // Factorise in place the matrix assembled in values() (diagonal blocks whole, lower blocks
  // below). A scalar pivot below `pivot_tolerance` times its original diagonal is zero: its
  // state is dropped (its column of L and its pivot 0), which leaves G = L D L^T exact for a
  // positive semi-definite G. Returns the number of zero pivots (zero_pivots() lists their
  // scalar states).
  int factor(double pivot_tolerance) {
    double* d = values_.data();
    double* l = values_.data() + 4 * static_cast<std::size_t>(n_);
    for (int k = 0; k < n_; ++k) {
      diagonal_[2 * k] = d[4 * k];
      diagonal_[2 * k + 1] = d[4 * k + 3];
    }
    std::fill(head_.begin(), head_.end(), -1);
    zero_pivots_.clear();
    double product[4];
    for (int k = 0; k < n_; ++k) {
      double* dk = d + 4 * k;
      const int begin = col_ptr_[k];
      const int end = col_ptr_[k + 1];
      for (int p = begin; p < end; ++p) std::copy_n(l + 4 * p, 4, &work_[4 * row_idx_[p]]);
      // Left-looking: subtract L_kj diag(d_j) L_ij^T for the columns j < k whose block row k
      // is nonzero. Each waits in the list of the next block row it updates.
      for (int j = head_[k]; j != -1;) {
        const int following = next_[j];
        const int p = cursor_[j];
        const double* lkj = l + 4 * p;
        const double pj = d[4 * j];
        const double ej = d[4 * j + 3];
        product[0] = lkj[0] * pj;  // L_kj diag(d_j)
        product[1] = lkj[1] * ej;
        product[2] = lkj[2] * pj;
        product[3] = lkj[3] * ej;
        block::subtract_abt(dk, product, lkj);
        const int stop = col_ptr_[j + 1];
        for (int q = p + 1; q < stop; ++q) {
          block::subtract_abt(&work_[4 * row_idx_[q]], l + 4 * q, product);
        }
        enqueue(j, p + 1);
        j = following;
      }
      const Pivots q = pivot(k, dk, pivot_tolerance);
      // L_ik = W_i [1 -m; 0 1] diag(1 / p, 1 / e)
      for (int p = begin; p < end; ++p) {
        double* w = &work_[4 * row_idx_[p]];
        double* lik = l + 4 * p;
        lik[0] = w[0] * q.inverse_p;
        lik[1] = (w[1] - q.m * w[0]) * q.inverse_e;
        lik[2] = w[2] * q.inverse_p;
        lik[3] = (w[3] - q.m * w[2]) * q.inverse_e;
        std::fill_n(w, 4, 0.0);
      }
      enqueue(k, begin);
    }
    return static_cast<int>(zero_pivots_.size());
  }

  // Solve G x = b in place (b in, x out). Components along zero pivots come out 0.
  void solve(double* x) const {
    forward(x);
    for (int k = 0; k < n_; ++k) {
      const Pivots q = pivots(k);
      x[2 * k] *= q.inverse_p;
      x[2 * k + 1] *= q.inverse_e;
    }
    back_substitute(x);
  }

  // Solve L y = b in place.
  void forward(double* x) const {
    const double* l = values_.data() + 4 * static_cast<std::size_t>(n_);
    for (int k = 0; k < n_; ++k) {
      const double x0 = x[2 * k];
      const double x1 = x[2 * k + 1] - values_[4 * k + 1] * x0;
      x[2 * k + 1] = x1;
      if (x0 == 0.0 && x1 == 0.0) continue;
      for (int p = col_ptr_[k]; p < col_ptr_[k + 1]; ++p) {
        const double* b = l + 4 * p;
        double* y = x + 2 * row_idx_[p];
        y[0] -= b[0] * x0 + b[1] * x1;
        y[1] -= b[2] * x0 + b[3] * x1;
      }
    }
  }

  // a^T diag(d)^-1 b, for vectors after forward(): b^T G^-1 c = (L^-1 b)^T D^-1 (L^-1 c).
  double inverse_d_dot(const double* a, const double* b) const {
    double sum = 0.0;
    for (int k = 0; k < n_; ++k) {
      const Pivots q = pivots(k);
      sum += a[2 * k] * b[2 * k] * q.inverse_p + a[2 * k + 1] * b[2 * k + 1] * q.inverse_e;
    }
    return sum;
  }

  // A vector of the null space of G for the zero pivot of scalar state `state`: L^T x = e.
  void null_vector(int state, double* x) const {
    std::fill(x, x + 2 * static_cast<std::size_t>(n_), 0.0);
    x[state] = 1.0;
    back_substitute(x);
  }

  // Blocks of G^-1 on the pattern of L (Takahashi's recurrence), in the slot layout (four
  // doubles per slot), run over the scalar factor. Needs a factor without zero pivots. `z` is
  // resized to 4 size().
  void inverse_subset(std::vector<double>& z) const {
    const double* l = values_.data() + 4 * static_cast<std::size_t>(n_);
    z.assign(values_.size(), 0.0);
    double* zd = z.data();
    double* zl = z.data() + 4 * static_cast<std::size_t>(n_);
    std::vector<double> column;
    for (int k = n_ - 1; k >= 0; --k) {
      const int begin = col_ptr_[k];
      const int count = col_ptr_[k + 1] - begin;
      const int* rows = row_idx_.data() + begin;
      const double* lk = l + 4 * begin;
      const Pivots q = pivots(k);
      column.assign(4 * static_cast<std::size_t>(count), 0.0);
      // -sum_b Z(r_a, r_b) L(r_b, k) over the block rows of column k. They form a clique of
      // the filled graph, so Z(r_a, r_b) (a > b) sits in column r_b.
      for (int b = 0; b < count; ++b) {
        const int kb = rows[b];
        block::subtract_ab(&column[4 * b], zd + 4 * kb, lk + 4 * b);
        int p = col_ptr_[kb];
        for (int a = b + 1; a < count; ++a) {
          while (row_idx_[p] != rows[a]) ++p;
          const double* zab = zl + 4 * p;
          block::subtract_ab(&column[4 * a], zab, lk + 4 * b);
          block::subtract_atb(&column[4 * b], zab, lk + 4 * a);
        }
      }
      // Column 1 of each block is Z(., magnitude k); the angle's column still lacks the
      // coupling m of the angle to the magnitude within the diagonal block of L.
      double vv = q.inverse_e;
      for (int a = 0; a < count; ++a) {
        vv -= lk[4 * a + 1] * column[4 * a + 1] + lk[4 * a + 3] * column[4 * a + 3];
      }
      double va = -q.m * vv;
      for (int a = 0; a < count; ++a) {
        double* c = &column[4 * a];
        va -= lk[4 * a] * c[1] + lk[4 * a + 2] * c[3];
        c[0] -= q.m * c[1];
        c[2] -= q.m * c[3];
      }
      double aa = q.inverse_p - q.m * va;
      for (int a = 0; a < count; ++a) {
        aa -= lk[4 * a] * column[4 * a] + lk[4 * a + 2] * column[4 * a + 2];
      }
      std::copy(column.begin(), column.end(), zl + 4 * begin);
      double* zk = zd + 4 * k;
      zk[0] = aa;
      zk[1] = zk[2] = va;
      zk[3] = vv;
    }
  }

 private:
  // Checked before any member is sized by it.
  static int blocks_of(const std::vector<int>& col_ptr) {
    if (col_ptr.empty()) throw std::invalid_argument("col_ptr must not be empty");
    return static_cast<int>(col_ptr.size()) - 1;
  }

  // The pivots of block k and the coupling m of its diagonal block of L; 1/p, 1/e are 0 for
  // a zero pivot.
  struct Pivots {
    double m;
    double inverse_p;
    double inverse_e;
  };

  Pivots pivots(int k) const {
    const double* dk = values_.data() + 4 * k;
    return {dk[1], dk[0] != 0.0 ? 1.0 / dk[0] : 0.0, dk[3] != 0.0 ? 1.0 / dk[3] : 0.0};
  }

  // Scalar LDL^T of the reduced diagonal block dk = [a b; b c] = [1 0; m 1] diag(p, e)
  // [1 m; 0 1] with the relative zero-pivot test; dk becomes (p, m, m, e).
  Pivots pivot(int k, double* dk, double tolerance) {
    double p = dk[0];
    double b = 0.5 * (dk[1] + dk[2]);
    if (!(p > tolerance * diagonal_[2 * k]) || !(diagonal_[2 * k] > 0.0)) {
      zero_pivots_.push_back(2 * k);
      p = 0.0;
      b = 0.0;
    }
    const double m = p != 0.0 ? b / p : 0.0;
    double e = dk[3] - m * b;
    if (!(e > tolerance * diagonal_[2 * k + 1]) || !(diagonal_[2 * k + 1] > 0.0)) {
      zero_pivots_.push_back(2 * k + 1);
      e = 0.0;
    }
    dk[0] = p;
    dk[1] = dk[2] = m;
    dk[3] = e;
    return pivots(k);
  }

  void enqueue(int column, int position) {
    cursor_[column] = position;
    if (position < col_ptr_[column + 1]) {
      const int row = row_idx_[position];
      next_[column] = head_[row];
      head_[row] = column;
    }
  }

  // Solve L^T x = y in place.
  void back_substitute(double* x) const {
    const double* l = values_.data() + 4 * static_cast<std::size_t>(n_);
    for (int k = n_ - 1; k >= 0; --k) {
      double s0 = x[2 * k];
      double s1 = x[2 * k + 1];
      for (int p = col_ptr_[k]; p < col_ptr_[k + 1]; ++p) {
        const double* b = l + 4 * p;
        const double* y = x + 2 * row_idx_[p];
        s0 -= b[0] * y[0] + b[2] * y[1];
        s1 -= b[1] * y[0] + b[3] * y[1];
      }
      x[2 * k] = s0 - values_[4 * k + 1] * s1;
      x[2 * k + 1] = s1;
    }
  }

  int n_ = 0;
  std::vector<int> col_ptr_;
  std::vector<int> row_idx_;
  std::vector<double> values_;
  std::vector<double> diagonal_;  // the matrix's scalar diagonal before factorisation
  std::vector<double> work_;
  std::vector<int> head_;
  std::vector<int> next_;
  std::vector<int> cursor_;
  std::vector<int> zero_pivots_;
};

}  // namespace gridedge
