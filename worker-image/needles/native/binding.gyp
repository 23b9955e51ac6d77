{
  "target_defaults": {
    "sources": ["fftcorr.cc", "sparsecorr.cc"],
    "defines": ["POCKETFFT_NO_MULTITHREADING", "POCKETFFT_CACHE_SIZE=16", "NAPI_VERSION=8"],
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
    "cflags_cc": ["-std=c++17", "-O3", "-fexceptions"]
  },
  "targets": [
    { "target_name": "kubeqa_fftcorr" },
    {
      "target_name": "kubeqa_fftcorr_avx2",
      "conditions": [["target_arch=='x64'", { "cflags_cc": ["-mavx2", "-mfma"] }]]
    }
  ]
}
