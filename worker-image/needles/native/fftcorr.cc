// kubeqa's FFT correlation for the exact whole-screen needle search (see docs/needles.md).
//
// The squared error of a template T (tw × th) at every position p of a window W:
//   SSD(p) = ΣT² + ΣW_p² − 2·ΣT·W_p.
// ΣW_p and ΣW_p² are summed exactly (integers, slid along the window); the correlation ΣT·W_p comes from
// single-precision FFTs (pocketfft, vendored in ./pocketfft, BSD-3-Clause): the window's spectrum
// (computed once per screen and window, shared by every template searched there) times the
// conjugate of the template's spectrum (computed once per template and FFT size), transformed
// back. Both are shifted by their integer means first, which keeps the rounding small; the shift
// is undone exactly: ΣT·W_p = corr'(p) + b·ΣT' + a·ΣW_p (T' = T − a, W' = W − b).
//
// The float result is only used to find candidates: every position whose rounded error is within
// `slack` of the rounded minimum is returned with its exact error, summed from the pixels here.
// The caller picks among those (tinycv's "within 10 of the minimum, nearest the recorded
// position"). The rounding of every candidate and of a grid of sample positions is measured
// against the exact errors and returned, so the caller can check the bound it assumed.
//
// JavaScript API (all synchronous; called from the matcher's worker thread):
//   fftSize(n) → the smallest 2^a·3^b·5^c ≥ n
//   sceneSpectrum(pixels, stride, x0, y0, width, height, fftWidth, fftHeight, spectrum)
//     fills spectrum (Float32Array) → { shift, norm2 }
//   templateSpectrum(pixels, width, height, fftWidth, fftHeight)
//     → { spectrum: Float32Array (conjugated), shift, norm2, sumShifted: Σ(T − shift),
//         sumSqShifted: Σ(T − shift)² }
//   search(scene pixels and window, scene spectrum and shift, template pixels, size, spectrum, shift,
//          Σ(T − shift), ΣT², slack, maxCandidates)
//     → { positions: Int32Array, values: Float64Array, roughMin, maxError } or null (too many)
//   sparseSearch(...): the sparse search, see sparsecorr.cc (the addon's Init registers both)
#include <node_api.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "napi-args.h"
#include "pocketfft/pocketfft_hdronly.h"
#include "sparsecorr.h"
#include "square-rows.h"

namespace {

using namespace kubeqa;

using cfloat = std::complex<float>;

size_t smoothSize(size_t n) {
  for (size_t m = std::max<size_t>(n, 1);; m++) {
    size_t r = m;
    for (size_t f : {2, 3, 5})
      while (r % f == 0) r /= f;
    if (r == 1) return m;
  }
}

// Scratch buffers reused across calls (one matcher thread per process).
thread_local std::vector<float> realScratch;
thread_local std::vector<cfloat> complexScratch;

// Forward 2D real FFT of `rows` × `cols` values (row-major, the rest of the fftHeight × fftWidth
// field zero) into `out` (fftHeight × (fftWidth/2+1)).
void forward(const float* in, size_t rows, size_t fftWidth, size_t fftHeight, cfloat* out) {
  const size_t half = fftWidth / 2 + 1;
  std::fill(out + rows * half, out + fftHeight * half, cfloat(0, 0));
  const ptrdiff_t fs = sizeof(float), cs = sizeof(cfloat);
  // along the rows, only the rows that are not zero
  pocketfft::r2c<float>({rows, fftWidth}, {(ptrdiff_t)fftWidth * fs, fs}, {(ptrdiff_t)half * cs, cs}, 1,
                        pocketfft::FORWARD, in, out, 1.0f, 1);
  // then along the columns
  pocketfft::c2c<float>({fftHeight, half}, {(ptrdiff_t)half * cs, cs}, {(ptrdiff_t)half * cs, cs}, {0},
                        pocketfft::FORWARD, out, out, 1.0f, 1);
}

// The window's pixels minus `shift`, as floats, rows `fftWidth` apart (zero beyond `width`).
__attribute__((target_clones("avx2", "default"))) void shiftedCopy(const uint8_t* px, size_t stride,
                                                                     size_t x0, size_t y0, size_t width,
                                                                     size_t height, float shift, float* out,
                                                                     size_t fftWidth) {
  for (size_t y = 0; y < height; y++) {
    const uint8_t* row = px + (y0 + y) * stride + x0;
    float* o = out + y * fftWidth;
    for (size_t x = 0; x < width; x++) o[x] = (float)row[x] - shift;
    std::fill(o + width, o + fftWidth, 0.0f);
  }
}

// prod = a × b, element by element (written out: std::complex's operator* handles infinities and
// NaNs in a library call per element).
__attribute__((target_clones("avx2", "default"))) void multiply(const float* __restrict a, const float* __restrict b, float* __restrict prod,
                                                                  size_t count) {
  for (size_t i = 0; i < count; i++) {
    const float ar = a[2 * i], ai = a[2 * i + 1], br = b[2 * i], bi = b[2 * i + 1];
    prod[2 * i] = ar * br - ai * bi;
    prod[2 * i + 1] = ar * bi + ai * br;
  }
}

// Per column, the sum of (pixel − a)² over a th-row band, slid down row by row; and its running
// sum along the row. Exact integers: int32 while they fit (th × width × 255² < 2³¹), else int64.
struct BandSums {
  std::vector<int32_t> column;  // ≤ th × 255²: th < 33,000
  std::vector<int32_t> prefix32;
  std::vector<int64_t> prefix64;
};
thread_local BandSums bandSums;

// The rough squared error of every position of one row, in place of its correlation values:
// Σ(T − W)² = Σ(T − a)² + Σ(W − a)² − 2·Σ(T − a)(W − a) = constant + Σ(W − a)² − 2·corr', where
// corr' = Σ(T − a)(W − b) and constant = Σ(T − a)² − 2(b − a)·Σ(T − a); Σ(W − a)² comes from the
// running sums q. Returns the row's smallest (kept in 8 lanes, so that the loop vectorises).
template <typename Q>
inline float errorRow(float* __restrict c, size_t cols, const Q* __restrict q, size_t tw, float constant) {
  for (size_t x = 0; x < cols; x++) c[x] = constant + (float)(q[x + tw] - q[x]) - 2 * c[x];
  float lanes[8];
  for (float& l : lanes) l = 3.4e38f;
  size_t x = 0;
  for (; x + 8 <= cols; x += 8)
    for (size_t j = 0; j < 8; j++) lanes[j] = c[x + j] < lanes[j] ? c[x + j] : lanes[j];
  float m = 3.4e38f;
  for (; x < cols; x++) m = c[x] < m ? c[x] : m;
  for (float l : lanes) m = l < m ? l : m;
  return m;
}

__attribute__((target_clones("avx2", "default"))) float errorRow32(float* __restrict c, size_t cols, const int32_t* __restrict q,
                                                                     size_t tw, float constant) {
  return errorRow(c, cols, q, tw, constant);
}

float errorRow64(float* c, size_t cols, const int64_t* q, size_t tw, float constant) {
  return errorRow(c, cols, q, tw, constant);
}

// How many of a row are at most `limit` (vectorises).
__attribute__((target_clones("avx2", "default"))) size_t countAtMost(const float* c, size_t cols, float limit) {
  int32_t n = 0;
  for (size_t x = 0; x < cols; x++) n += c[x] <= limit ? 1 : 0;
  return (size_t)n;
}

napi_value FftSize(napi_env env, napi_callback_info info) {
  auto argv = args(env, info, 1);
  return num(env, (double)smoothSize(sizeArg(env, argv[0], "n", 1 << 20)));
}

// sceneSpectrum(pixels, stride, x0, y0, width, height, fftWidth, fftHeight, spectrum)
// fills the caller's array (reused from screen to screen: a fresh one per screen costs page
// faults) and returns { shift, norm2 }.
napi_value SceneSpectrum(napi_env env, napi_callback_info info) {
  auto argv = args(env, info, 9);
  const WindowArg window = windowArg(env, argv, 0, "pixels");
  const size_t stride = window.stride, x0 = window.x0, y0 = window.y0, width = window.width,
               height = window.height, fftWidth = sizeArg(env, argv[6], "fftWidth"),
               fftHeight = sizeArg(env, argv[7], "fftHeight");
  if (fftWidth < width || fftHeight < height || fftWidth % 2) throw Failure{"bad FFT size"};
  const uint8_t* px = window.pixels;
  const size_t half = fftWidth / 2 + 1;
  cfloat* spectrum = reinterpret_cast<cfloat*>(
      typedArg<float>(env, argv[8], napi_float32_array, 2 * fftHeight * half, "spectrum"));
  int64_t total = 0, totalSq = 0;
  for (size_t y = 0; y < height; y++) {
    const uint8_t* row = px + (y0 + y) * stride + x0;
    int32_t rs = 0, rq = 0;  // ≤ 255² × width: width < 33,000
    for (size_t x = 0; x < width; x++) {
      rs += row[x];
      rq += (int32_t)row[x] * row[x];
    }
    total += rs;
    totalSq += rq;
  }
  const double n = (double)width * height;
  const double shift = std::round((double)total / n);
  // ‖W − shift‖², exactly, from the sums
  const double norm2 = (double)totalSq - 2 * shift * (double)total + n * shift * shift;
  realScratch.resize(height * fftWidth);
  shiftedCopy(px, stride, x0, y0, width, height, (float)shift, realScratch.data(), fftWidth);
  forward(realScratch.data(), height, fftWidth, fftHeight, spectrum);

  napi_value result;
  NAPI_OK(napi_create_object(env, &result));
  setProp(env, result, "shift", num(env, shift));
  setProp(env, result, "norm2", num(env, std::sqrt(std::max(0.0, norm2))));
  return result;
}

// templateSpectrum(pixels, width, height, fftWidth, fftHeight)
napi_value TemplateSpectrum(napi_env env, napi_callback_info info) {
  auto argv = args(env, info, 5);
  size_t width = sizeArg(env, argv[1], "width"), height = sizeArg(env, argv[2], "height"),
         fftWidth = sizeArg(env, argv[3], "fftWidth"), fftHeight = sizeArg(env, argv[4], "fftHeight");
  if (width == 0 || height == 0 || width > fftWidth || height > fftHeight || fftWidth % 2)
    throw Failure{"bad template or FFT size"};
  const uint8_t* px = typedArg<uint8_t>(env, argv[0], napi_uint8_array, width * height, "pixels");
  double total = 0;
  for (size_t i = 0; i < width * height; i++) total += px[i];
  const double shift = std::round(total / ((double)width * height));
  realScratch.assign(height * fftWidth, 0.0f);
  double norm2 = 0, shifted = 0;
  for (size_t y = 0; y < height; y++)
    for (size_t x = 0; x < width; x++) {
      const float v = (float)(px[y * width + x] - shift);
      realScratch[y * fftWidth + x] = v;
      norm2 += (double)v * v;
      shifted += v;
    }
  cfloat* spectrum;
  const size_t half = fftWidth / 2 + 1;
  napi_value specArr = newTyped(env, napi_float32_array, 2 * fftHeight * half, reinterpret_cast<float**>(&spectrum));
  forward(realScratch.data(), height, fftWidth, fftHeight, spectrum);
  // stored conjugated: the search multiplies without conjugating
  for (size_t i = 0; i < fftHeight * half; i++) spectrum[i] = std::conj(spectrum[i]);
  napi_value result;
  NAPI_OK(napi_create_object(env, &result));
  setProp(env, result, "spectrum", specArr);
  setProp(env, result, "shift", num(env, shift));
  setProp(env, result, "norm2", num(env, std::sqrt(norm2)));
  setProp(env, result, "sumShifted", num(env, shifted));
  setProp(env, result, "sumSqShifted", num(env, norm2));
  return result;
}

// search(scenePixels, stride, x0, y0, width, height, fftWidth, fftHeight, sceneSpectrum, sceneShift,
//        templatePixels, tw, th, templateSpectrum, templateShift, templateSumShifted, templateSumSqShifted,
//        slack, maxCandidates)
napi_value Search(napi_env env, napi_callback_info info) {
  auto argv = args(env, info, 19);
  const WindowArg window = windowArg(env, argv, 0, "scenePixels");
  const size_t stride = window.stride, x0 = window.x0, y0 = window.y0, width = window.width,
               height = window.height, fftWidth = sizeArg(env, argv[6], "fftWidth"),
               fftHeight = sizeArg(env, argv[7], "fftHeight");
  const double b = numberArg(env, argv[9], "sceneShift");
  size_t tw = sizeArg(env, argv[11], "tw"), th = sizeArg(env, argv[12], "th");
  const double a = numberArg(env, argv[14], "templateShift");
  const double sumTShifted = numberArg(env, argv[15], "templateSumShifted");
  const double sumTShifted2 = numberArg(env, argv[16], "templateSumSqShifted");
  const double slack = numberArg(env, argv[17], "slack");
  const size_t maxCandidates = sizeArg(env, argv[18], "maxCandidates");
  if (tw == 0 || th == 0 || tw > width || th > height || fftWidth < width ||
      fftHeight < height || fftWidth % 2 || th > 30000 || a != std::floor(a) || a < 0 || a > 255)
    throw Failure{"bad sizes"};
  const size_t half = fftWidth / 2 + 1;
  const uint8_t* px = window.pixels;
  const cfloat* sceneSpec = reinterpret_cast<const cfloat*>(
      typedArg<float>(env, argv[8], napi_float32_array, 2 * fftHeight * half, "sceneSpectrum"));
  const uint8_t* tpx = typedArg<uint8_t>(env, argv[10], napi_uint8_array, tw * th, "templatePixels");
  const cfloat* templSpec = reinterpret_cast<const cfloat*>(
      typedArg<float>(env, argv[13], napi_float32_array, 2 * fftHeight * half, "templateSpectrum"));

  const size_t cols = width - tw + 1, rows = height - th + 1;
  // product, then back along the columns, then back along the rows of valid positions only
  complexScratch.resize(fftHeight * half);
  cfloat* prod = complexScratch.data();
  multiply(reinterpret_cast<const float*>(sceneSpec), reinterpret_cast<const float*>(templSpec),
           reinterpret_cast<float*>(prod), fftHeight * half);
  const ptrdiff_t fs = sizeof(float), cs = sizeof(cfloat);
  pocketfft::c2c<float>({fftHeight, half}, {(ptrdiff_t)half * cs, cs}, {(ptrdiff_t)half * cs, cs}, {0},
                        pocketfft::BACKWARD, prod, prod, 1.0f, 1);
  realScratch.resize(rows * fftWidth);
  float* corr = realScratch.data();
  pocketfft::c2r<float>({rows, fftWidth}, {(ptrdiff_t)half * cs, cs}, {(ptrdiff_t)fftWidth * fs, fs}, 1,
                        pocketfft::BACKWARD, prod, corr, 1.0f / ((float)fftWidth * fftHeight), 1);

  // the rough error at every position, in place of the correlation
  const float constant = (float)(sumTShifted2 - 2 * (b - a) * sumTShifted);
  BandSums& sums = bandSums;
  sums.column.assign(width, 0);
  const bool wide = (double)width * th * 255 * 255 >= 2147483647.0;
  if (wide) sums.prefix64.resize(width + 1);
  else sums.prefix32.resize(width + 1);
  const uint8_t* win = px + y0 * stride + x0;
  const int32_t ai = (int32_t)a;
  for (size_t r = 0; r < th; r++) addRow(win + r * stride, width, 1, ai, sums.column.data());
  float roughMin = 3.4e38f;
  for (size_t y = 0; y < rows; y++) {
    if (y > 0) {
      addRow(win + (y - 1) * stride, width, -1, ai, sums.column.data());
      addRow(win + (y + th - 1) * stride, width, 1, ai, sums.column.data());
    }
    const int32_t* col = sums.column.data();
    float* c = corr + y * fftWidth;
    if (wide) {
      int64_t* q = sums.prefix64.data();
      q[0] = 0;
      for (size_t x = 0; x < width; x++) q[x + 1] = q[x] + col[x];
      roughMin = std::min(roughMin, errorRow64(c, cols, q, tw, constant));
    } else {
      int32_t* q = sums.prefix32.data();
      q[0] = 0;
      for (size_t x = 0; x < width; x++) q[x + 1] = q[x] + col[x];
      roughMin = std::min(roughMin, errorRow32(c, cols, q, tw, constant));
    }
  }
  const float limit = (float)(roughMin + slack);
  thread_local std::vector<int32_t> near;
  near.clear();
  for (size_t y = 0; y < rows; y++) {
    const float* c = corr + y * fftWidth;
    if (countAtMost(c, cols, limit) == 0) continue;
    for (size_t x = 0; x < cols; x++) {
      if (c[x] > limit) continue;
      if (near.size() >= maxCandidates) {
        napi_value nul;
        NAPI_OK(napi_get_null(env, &nul));
        return nul;
      }
      near.push_back((int32_t)(y * cols + x));
    }
  }
  auto exact = [&](size_t x, size_t y) {
    int64_t total = 0;
    for (size_t r = 0; r < th; r++)  // a row: ≤ 255² × tw, fits for tw < 33,000
      total += squaredDifference(px + (y0 + y + r) * stride + x0 + x, tpx + r * tw, tw);
    return (double)total;
  };
  int32_t* positions;
  double* values;
  napi_value posArr = newTyped(env, napi_int32_array, near.size(), &positions);
  napi_value valArr = newTyped(env, napi_float64_array, near.size(), &values);
  double maxError = 0;
  for (size_t k = 0; k < near.size(); k++) {
    const size_t x = near[k] % cols, y = near[k] / cols;
    const double e = exact(x, y);
    maxError = std::max(maxError, std::fabs(e - (double)corr[y * fftWidth + x]));
    positions[k] = near[k];
    values[k] = e;
  }
  // and a grid of sample positions, to check the rounding where it is not near the minimum
  const size_t grid = 8;
  for (size_t gy = 0; gy < grid; gy++)
    for (size_t gx = 0; gx < grid; gx++) {
      const size_t x = (cols - 1) * gx / (grid - 1), y = (rows - 1) * gy / (grid - 1);
      maxError = std::max(maxError, std::fabs(exact(x, y) - (double)corr[y * fftWidth + x]));
    }
  napi_value result;
  NAPI_OK(napi_create_object(env, &result));
  setProp(env, result, "positions", posArr);
  setProp(env, result, "values", valArr);
  setProp(env, result, "roughMin", num(env, roughMin));
  setProp(env, result, "maxError", num(env, maxError));
  return result;
}

template <napi_value (*F)(napi_env, napi_callback_info)>
napi_value Guarded(napi_env env, napi_callback_info info) {
  try {
    return F(env, info);
  } catch (const Failure& f) {
    napi_throw_error(env, "KQ_ERR_FFTCORR", f.message.c_str());
  } catch (const std::exception& e) {
    napi_throw_error(env, "KQ_ERR_FFTCORR", e.what());
  }
  return nullptr;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"fftSize", nullptr, Guarded<FftSize>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sceneSpectrum", nullptr, Guarded<SceneSpectrum>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"templateSpectrum", nullptr, Guarded<TemplateSpectrum>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"search", nullptr, Guarded<Search>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sparseSearch", nullptr, Guarded<SparseSearch>, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
