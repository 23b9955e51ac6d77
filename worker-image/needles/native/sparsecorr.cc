// kubeqa's sparse search: the exact squared error of a template at every position of a small
// window, in integers, when the window or the template is mostly one gray value (see
// docs/needles.md, "The sparse search").
//
// Screens are mostly flat: a dialog's background, a blank title bar, the space around a line of
// text. Write the window's pixels as s = S + d and the template's as t = M + e, where S and M are
// their most common values, so that d and e are zero almost everywhere. With c = S − M, the error
// of the template at position p is
//   Σ_q (s(p+q) − t(q))² = B(p) − 2·X(p) − 2c·Σe + Σe²,
// where B(p) = Σ_q (s(p+q) − M)² is a box sum slid over the window and X(p) = Σ_q d(p+q)·e(q) is
// the only correlation left. X is summed from whichever side has fewer non-zero pixels:
//   - from the template: every non-zero e(q) adds e(q) times the shifted window to every position
//     (per row of positions, one contiguous multiply-add of `cols` values);
//   - from the window: every non-zero d(u) adds d(u) times the (reversed) template to the
//     positions that cover u.
// Its cost is the number of non-zero pixels times the positions (or the template's pixels); the
// caller says how much it may cost (more: null, search the usual way). Everything is an exact
// integer (int32 while the template has at most 33,025 pixels: n × 255² < 2³¹), so unlike
// matchTemplate's or the FFT's floats there is no rounding at all.
//
// JavaScript API (synchronous; called from the matcher's worker thread):
//   sparseSearch(pixels, stride, x0, y0, width, height, templatePixels, tw, th, maxWork, slack)
//     → { positions: Int32Array, values: Float64Array, min, work, from: 'template' | 'window' }
//       (every position whose error is at most min + slack, ascending, with its exact error)
//       or null when the sparse correlation would cost more than maxWork multiply-adds
#include <node_api.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "napi-args.h"
#include "square-rows.h"

namespace kubeqa {
namespace {

/** The largest template whose errors (and partial sums) fit int32: n × 255² < 2³¹. */
constexpr size_t kMaxTemplatePixels = 33'025;

struct Scratch {
  std::vector<int32_t> window;  // d = s − S over the window
  std::vector<int32_t> reversed;  // e per template row, right to left
  std::vector<int32_t> cross;  // X per position
  std::vector<int32_t> column;  // Σ (s − M)² per window column over th rows
  std::vector<int32_t> errors;
  struct Entry {
    uint32_t y, x;
    int32_t v;
  };
  std::vector<Entry> entries;  // the non-zero pixels of the side X is summed from
};
thread_local Scratch scratch;

// out[i] += a × in[i] (vectorises).
__attribute__((target_clones("avx2", "default"))) void addScaled(int32_t* __restrict out,
                                                                   const int32_t* __restrict in, int32_t a,
                                                                   size_t n) {
  for (size_t i = 0; i < n; i++) out[i] += a * in[i];
}

int mostCommon(const uint32_t (&histogram)[256]) {
  int best = 0;
  for (int v = 1; v < 256; v++)
    if (histogram[v] > histogram[best]) best = v;
  return best;
}

}  // namespace

napi_value SparseSearch(napi_env env, napi_callback_info info) {
  auto argv = args(env, info, 11);
  const WindowArg window = windowArg(env, argv, 0, "pixels");
  const size_t stride = window.stride, width = window.width, height = window.height,
               tw = sizeArg(env, argv[7], "tw"), th = sizeArg(env, argv[8], "th");
  const double maxWork = numberArg(env, argv[9], "maxWork");
  const double slack = numberArg(env, argv[10], "slack");
  if (tw == 0 || th == 0 || tw > width || th > height) throw Failure{"the template does not fit the window"};
  if (tw * th > kMaxTemplatePixels)
    throw Failure{"templates over " + std::to_string(kMaxTemplatePixels) + " pixels are not searched sparsely"};
  if (slack < 0) throw Failure{"slack must not be negative"};
  const uint8_t* tpx = typedArg<uint8_t>(env, argv[6], napi_uint8_array, tw * th, "templatePixels");
  const uint8_t* win = window.pixels + window.y0 * stride + window.x0;
  const size_t cols = width - tw + 1, rows = height - th + 1, n = tw * th;

  uint32_t templateHistogram[256] = {};
  for (size_t i = 0; i < n; i++) templateHistogram[tpx[i]]++;
  const int M = mostCommon(templateHistogram);
  const double templateNonZero = (double)(n - templateHistogram[M]);
  // multiply-adds of each way of summing X: from the template, every non-zero pixel meets every
  // position; from the window, a pixel meets the positions that cover it: at most
  // min(tw, cols) × min(th, rows), fewer near the edges (counted exactly when the plain product
  // is over the limit)
  const double fromTemplate = templateNonZero * (double)(cols * rows);
  const double coverage = (double)std::min(tw, cols) * (double)std::min(th, rows);
  {
    // Most windows are not flat: an estimate from every 7th pixel declines those for a tenth of
    // a full count (a wrong estimate only costs time: the full count below decides).
    uint32_t sample[256] = {};
    size_t taken = 0;
    for (size_t y = 0; y < height; y++)
      for (size_t x = y % 7; x < width; x += 7, taken++) sample[win[y * stride + x]]++;
    const double share = 1.0 - (double)sample[mostCommon(sample)] / (double)std::max<size_t>(taken, 1);
    if (std::min(fromTemplate, share * (double)(width * height) * coverage) > 2 * maxWork) {
      napi_value nul;
      NAPI_OK(napi_get_null(env, &nul));
      return nul;
    }
  }
  uint32_t windowHistogram[256] = {};
  for (size_t y = 0; y < height; y++)
    for (size_t x = 0; x < width; x++) windowHistogram[win[y * stride + x]]++;
  const int S = mostCommon(windowHistogram);
  const double windowNonZero = (double)(width * height - windowHistogram[S]);
  double fromWindow = windowNonZero * coverage;
  if (fromWindow > maxWork && fromWindow < fromTemplate) {
    // positions covering column u: x in [max(0, u − tw + 1), min(u, cols − 1)]; rows likewise
    const auto cover = [](size_t at, size_t size, size_t count) {
      const size_t from = at + 1 > size ? at + 1 - size : 0;
      const size_t to = std::min(at, count - 1);
      return to >= from ? (double)(to - from + 1) : 0.0;
    };
    fromWindow = 0;
    for (size_t v = 0; v < height; v++) {
      double row = 0;
      for (size_t u = 0; u < width; u++)
        if (win[v * stride + u] != S) row += cover(u, tw, cols);
      fromWindow += row * cover(v, th, rows);
    }
  }
  const double work = std::min(fromTemplate, fromWindow);
  if (work > maxWork) {
    napi_value nul;
    NAPI_OK(napi_get_null(env, &nul));
    return nul;
  }

  Scratch& s = scratch;
  s.cross.assign(cols * rows, 0);
  s.entries.clear();
  const bool byTemplate = fromTemplate <= fromWindow;
  if (byTemplate) {
    s.window.resize(width * height);
    for (size_t y = 0; y < height; y++)
      for (size_t x = 0; x < width; x++) s.window[y * width + x] = (int32_t)win[y * stride + x] - S;
    for (size_t qy = 0; qy < th; qy++)
      for (size_t qx = 0; qx < tw; qx++) {
        const int32_t e = (int32_t)tpx[qy * tw + qx] - M;
        if (e != 0) s.entries.push_back({(uint32_t)qy, (uint32_t)qx, e});
      }
    for (size_t y = 0; y < rows; y++) {
      int32_t* out = s.cross.data() + y * cols;
      for (const auto& q : s.entries) addScaled(out, s.window.data() + (y + q.y) * width + q.x, q.v, cols);
    }
  } else {
    s.reversed.resize(n);
    for (size_t qy = 0; qy < th; qy++)
      for (size_t k = 0; k < tw; k++) s.reversed[qy * tw + k] = (int32_t)tpx[qy * tw + (tw - 1 - k)] - M;
    for (size_t v = 0; v < height; v++)
      for (size_t u = 0; u < width; u++) {
        const int32_t d = (int32_t)win[v * stride + u] - S;
        if (d != 0) s.entries.push_back({(uint32_t)v, (uint32_t)u, d});
      }
    // d(u, v) is covered by the positions x = u − i (template column i), y = v − j (template row
    // j); with k = tw − 1 − i those are x = u − tw + 1 + k, contiguous in k.
    for (const auto& p : s.entries) {
      const ptrdiff_t first = (ptrdiff_t)p.x - (ptrdiff_t)tw + 1;  // x at k = 0
      const size_t kFrom = first < 0 ? (size_t)(-first) : 0;
      const size_t kTo = std::min(tw, (size_t)((ptrdiff_t)cols - first));  // exclusive
      if (kFrom >= kTo) continue;
      for (size_t j = 0; j < th; j++) {
        if (p.y < j || p.y - j >= rows) continue;
        addScaled(s.cross.data() + (p.y - j) * cols + (size_t)(first + (ptrdiff_t)kFrom),
                  s.reversed.data() + j * tw + kFrom, p.v, kTo - kFrom);
      }
    }
  }

  // Σe and Σe² over the template, and the constant part of the error
  int64_t sumE = 0, sumE2 = 0;
  for (size_t i = 0; i < n; i++) {
    const int64_t e = (int64_t)tpx[i] - M;
    sumE += e;
    sumE2 += e * e;
  }
  const int64_t constant = sumE2 - 2 * (int64_t)(S - M) * sumE;
  // B(p): column sums of (s − M)² over th rows, slid down; along a row, slid across
  s.column.assign(width, 0);
  for (size_t r = 0; r < th; r++) addRow(win + r * stride, width, 1, M, s.column.data());
  s.errors.resize(cols * rows);
  int64_t min = INT64_MAX;
  for (size_t y = 0; y < rows; y++) {
    if (y > 0) {
      addRow(win + (y - 1) * stride, width, -1, M, s.column.data());
      addRow(win + (y + th - 1) * stride, width, 1, M, s.column.data());
    }
    int32_t box = 0;  // ≤ n × 255²
    for (size_t x = 0; x < tw; x++) box += s.column[x];
    const int32_t* cross = s.cross.data() + y * cols;
    int32_t* errors = s.errors.data() + y * cols;
    for (size_t x = 0; x < cols; x++) {
      if (x > 0) box += s.column[x + tw - 1] - s.column[x - 1];
      const int64_t error = (int64_t)box - 2 * (int64_t)cross[x] + constant;
      errors[x] = (int32_t)error;  // 0 ≤ error ≤ n × 255²
      min = std::min(min, error);
    }
  }
  const double limit = (double)min + slack;
  size_t count = 0;
  for (int32_t e : s.errors) count += e <= limit ? 1 : 0;
  int32_t* positions;
  double* values;
  napi_value posArr = newTyped(env, napi_int32_array, count, &positions);
  napi_value valArr = newTyped(env, napi_float64_array, count, &values);
  for (size_t i = 0, k = 0; i < s.errors.size(); i++) {
    if (s.errors[i] > limit) continue;
    positions[k] = (int32_t)i;
    values[k++] = s.errors[i];
  }
  napi_value result, from;
  NAPI_OK(napi_create_object(env, &result));
  setProp(env, result, "positions", posArr);
  setProp(env, result, "values", valArr);
  setProp(env, result, "min", num(env, (double)min));
  setProp(env, result, "work", num(env, work));
  NAPI_OK(napi_create_string_utf8(env, byTemplate ? "template" : "window", NAPI_AUTO_LENGTH, &from));
  setProp(env, result, "from", from);
  return result;
}

}  // namespace kubeqa
