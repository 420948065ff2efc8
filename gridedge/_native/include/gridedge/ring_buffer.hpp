// Single-producer/single-consumer ring buffer of multi-channel samples.
//
// The acquisition thread writes blocks of rows (one row = one sample of every channel); an
// algorithm thread reads them. Neither blocks the other: when the ring is full the producer
// drops the newest rows and counts them. Every slot remembers the absolute index of its
// sample, so the consumer always learns where a run of samples starts and never reads across
// a gap without knowing. Plain C++17, no Python.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace gridedge {

class SampleRing {
 public:
  SampleRing(std::size_t capacity, std::size_t channels)
      : capacity_(capacity), channels_(channels), data_(capacity * channels), index_(capacity) {
    if (capacity == 0 || channels == 0) {
      throw std::invalid_argument("capacity and channels must be positive");
    }
  }

  std::size_t capacity() const noexcept { return capacity_; }
  std::size_t channels() const noexcept { return channels_; }

  // Rows ready to read. Exact for the consumer; a lower bound for anyone else.
  std::size_t available() const noexcept {
    return static_cast<std::size_t>(head_.load(std::memory_order_acquire) -
                                    tail_.load(std::memory_order_acquire));
  }

  // Rows offered to write() so far, dropped ones included: the absolute index of the next row.
  std::uint64_t offered() const noexcept { return offered_.load(std::memory_order_acquire); }
  std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }
  std::uint64_t overruns() const noexcept { return overruns_.load(std::memory_order_relaxed); }

  // Producer only. Copies as many of `rows` (row-major, n_rows x channels) as fit; the rest are
  // dropped and counted as one overrun. Returns the number of rows stored.
  std::size_t write(const double* rows, std::size_t n_rows) noexcept {
    const std::uint64_t head = head_.load(std::memory_order_relaxed);
    const std::uint64_t tail = tail_.load(std::memory_order_acquire);
    const std::size_t space = capacity_ - static_cast<std::size_t>(head - tail);
    const std::size_t stored = std::min(space, n_rows);
    const std::uint64_t first = offered_.load(std::memory_order_relaxed);
    for (std::size_t done = 0; done < stored;) {
      const std::size_t slot = static_cast<std::size_t>((head + done) % capacity_);
      const std::size_t run = std::min(stored - done, capacity_ - slot);
      std::memcpy(&data_[slot * channels_], rows + done * channels_,
                  run * channels_ * sizeof(double));
      for (std::size_t k = 0; k < run; ++k) index_[slot + k] = first + done + k;
      done += run;
    }
    head_.store(head + stored, std::memory_order_release);
    if (stored < n_rows) {
      dropped_.fetch_add(n_rows - stored, std::memory_order_relaxed);
      overruns_.fetch_add(1, std::memory_order_relaxed);
    }
    offered_.store(first + n_rows, std::memory_order_release);
    return stored;
  }

  // Producer only. Advances the index of the next row by `n_rows` without storing anything: the
  // source lost those samples. The consumer sees the gap as it sees one left by dropped rows.
  void skip(std::uint64_t n_rows) noexcept {
    offered_.store(offered_.load(std::memory_order_relaxed) + n_rows, std::memory_order_release);
  }

  // Consumer only. Copies at most `max_rows` consecutive samples (no gap inside) into `out` and
  // sets `first_index` to the absolute index of the first; with nothing to read it is the index
  // after the last row read. Returns the number of rows copied.
  std::size_t read(double* out, std::size_t max_rows, std::uint64_t& first_index) noexcept {
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    const std::uint64_t head = head_.load(std::memory_order_acquire);
    const std::size_t ready = std::min(static_cast<std::size_t>(head - tail), max_rows);
    if (ready == 0) {
      first_index = next_read_;
      return 0;
    }
    first_index = index_[static_cast<std::size_t>(tail % capacity_)];
    std::size_t count = 1;
    while (count < ready &&
           index_[static_cast<std::size_t>((tail + count) % capacity_)] == first_index + count) {
      ++count;
    }
    for (std::size_t done = 0; done < count;) {
      const std::size_t slot = static_cast<std::size_t>((tail + done) % capacity_);
      const std::size_t run = std::min(count - done, capacity_ - slot);
      std::memcpy(out + done * channels_, &data_[slot * channels_],
                  run * channels_ * sizeof(double));
      done += run;
    }
    next_read_ = first_index + count;
    tail_.store(tail + count, std::memory_order_release);
    return count;
  }

 private:
  const std::size_t capacity_;
  const std::size_t channels_;
  std::vector<double> data_;
  std::vector<std::uint64_t> index_;
  // Producer and consumer positions on separate cache lines: they are written by different cores.
  alignas(64) std::atomic<std::uint64_t> head_{0};
  alignas(64) std::atomic<std::uint64_t> tail_{0};
  std::uint64_t next_read_ = 0;
  alignas(64) std::atomic<std::uint64_t> offered_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> overruns_{0};
};

}  // namespace gridedge
