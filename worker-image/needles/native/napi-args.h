// N-API argument helpers shared by the needle matcher's native sources (fftcorr.cc,
// sparsecorr.cc): typed, range-checked arguments; a Failure becomes a KQ_ERR_FFTCORR exception.
#pragma once

#include <node_api.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kubeqa {

struct Failure {
  std::string message;
};

#define NAPI_OK(call)                                                  \
  do {                                                                 \
    if ((call) != napi_ok) throw Failure{std::string("N-API call failed: ") + #call}; \
  } while (0)

inline double numberArg(napi_env env, napi_value v, const char* name) {
  double out;
  if (napi_get_value_double(env, v, &out) != napi_ok || !std::isfinite(out))
    throw Failure{std::string(name) + " must be a finite number"};
  return out;
}

inline size_t sizeArg(napi_env env, napi_value v, const char* name, size_t max = (size_t)1 << 30) {
  double d = numberArg(env, v, name);
  if (d < 0 || d > (double)max || d != std::floor(d))
    throw Failure{std::string(name) + " must be a whole number from 0 to " + std::to_string(max)};
  return (size_t)d;
}

template <typename T>
T* typedArg(napi_env env, napi_value v, napi_typedarray_type want, size_t minLength, const char* name) {
  bool is;
  NAPI_OK(napi_is_typedarray(env, v, &is));
  if (!is) throw Failure{std::string(name) + " must be a typed array"};
  napi_typedarray_type type;
  size_t length;
  void* data;
  NAPI_OK(napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr));
  if (type != want) throw Failure{std::string(name) + " has the wrong element type"};
  if (length < minLength)
    throw Failure{std::string(name) + " holds " + std::to_string(length) + " elements, needs " +
                  std::to_string(minLength)};
  return static_cast<T*>(data);
}

template <typename T>
napi_value newTyped(napi_env env, napi_typedarray_type type, size_t length, T** data) {
  napi_value buffer, array;
  void* raw;
  NAPI_OK(napi_create_arraybuffer(env, length * sizeof(T), &raw, &buffer));
  NAPI_OK(napi_create_typedarray(env, type, length, buffer, 0, &array));
  *data = static_cast<T*>(raw);
  return array;
}

inline napi_value num(napi_env env, double v) {
  napi_value out;
  NAPI_OK(napi_create_double(env, v, &out));
  return out;
}

inline void setProp(napi_env env, napi_value obj, const char* name, napi_value v) {
  NAPI_OK(napi_set_named_property(env, obj, name, v));
}

inline std::vector<napi_value> args(napi_env env, napi_callback_info info, size_t want) {
  std::vector<napi_value> argv(want);
  size_t argc = want;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv.data(), nullptr, nullptr));
  if (argc < want) throw Failure{"expected " + std::to_string(want) + " arguments"};
  return argv;
}

// A window of an 8-bit image: the pixels (a Uint8Array at argv[first]) with rows `stride` apart
// (argv[first + 1]), and the window at (x0, y0), width × height (argv[first + 2 … first + 5]),
// checked to lie inside the array.
struct WindowArg {
  const uint8_t* pixels;
  size_t stride, x0, y0, width, height;
};

inline WindowArg windowArg(napi_env env, const std::vector<napi_value>& argv, size_t first, const char* name) {
  WindowArg w{};
  w.stride = sizeArg(env, argv[first + 1], "stride");
  w.x0 = sizeArg(env, argv[first + 2], "x0");
  w.y0 = sizeArg(env, argv[first + 3], "y0");
  w.width = sizeArg(env, argv[first + 4], "width");
  w.height = sizeArg(env, argv[first + 5], "height");
  if (w.width == 0 || w.height == 0 || w.x0 + w.width > w.stride)
    throw Failure{"the window does not fit the region"};
  w.pixels = typedArg<uint8_t>(env, argv[first], napi_uint8_array, (w.y0 + w.height) * w.stride, name);
  return w;
}

}  // namespace kubeqa
