// Sums of squares over rows of pixels, shared by the FFT search (fftcorr.cc) and the sparse
// search (sparsecorr.cc): per column of a band of rows, the sum of (pixel − a)², kept as the band
// slides down; and the squared difference of two rows.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kubeqa {

// Adds (sign 1) or removes (sign −1) one row's (pixel − a)² to/from the column sums.
static __attribute__((target_clones("avx2", "default"))) void addRow(const uint8_t* __restrict row, size_t width, int32_t sign,
                                                                int32_t a, int32_t* __restrict column) {
  for (size_t x = 0; x < width; x++) {
    const int32_t d = (int32_t)row[x] - a;
    column[x] += sign * d * d;
  }
}

// Σ (a[k] − b[k])² over a row (≤ 255² × n: fits for n < 33,000; vectorises). Marked unused:
// not every source that includes this header calls it.
static __attribute__((target_clones("avx2", "default"), unused)) int32_t squaredDifference(const uint8_t* __restrict a,
                                                                                 const uint8_t* __restrict b,
                                                                                 size_t n) {
  int32_t total = 0;
  for (size_t k = 0; k < n; k++) {
    const int32_t d = (int32_t)a[k] - (int32_t)b[k];
    total += d * d;
  }
  return total;
}

}  // namespace kubeqa
