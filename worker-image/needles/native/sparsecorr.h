// The sparse search (sparsecorr.cc), registered by the addon's Init in fftcorr.cc.
#pragma once

#include <node_api.h>

namespace kubeqa {

napi_value SparseSearch(napi_env env, napi_callback_info info);

}  // namespace kubeqa
