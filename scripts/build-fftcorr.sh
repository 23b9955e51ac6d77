#!/usr/bin/env bash
# Builds the needle matcher's correlation addon (worker-image/needles/native: our fftcorr.cc and
# sparsecorr.cc, and the vendored pocketfft header, BSD-3-Clause) with node-gyp, and caches it
# outside the repository keyed by its sources, the Node ABI and the machine, so a fresh clone
# copies it instead of compiling (about 20 s).
#   ~/.cache/kubeqa/fftcorr/<sha of the sources>-abi<Node ABI>-<arch>/kubeqa_fftcorr{,_avx2}.node
# Two builds of the same source: for any x86-64 (SSE2) and for CPUs with AVX2 and FMA (a third
# faster); the matcher loads the one the CPU runs, from worker-image/needles/native/build/Release/,
# and fails with a hint to run ./scripts/setup.sh when it is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/worker-image/needles/native"
say() { printf '[fftcorr] %s\n' "$*" >&2; }

for tool in g++ make python3; do
  command -v "$tool" >/dev/null || { say "$tool is missing: apt-get install -y g++ make python3"; exit 1; }
done
gyp="$root/node_modules/.bin/node-gyp"
[ -x "$gyp" ] || { say "node_modules/.bin/node-gyp is missing: run npm install first"; exit 1; }

sources=$(cd "$src" && cat binding.gyp ./*.cc ./*.h pocketfft/pocketfft_hdronly.h | sha256sum | cut -c1-16)
key="${sources}-abi$(node -p process.versions.modules)-$(node -p process.arch)"
cache="${KUBEQA_CACHE_DIR:-$HOME/.cache/kubeqa}/fftcorr/$key"
release="$src/build/Release"
addons=(kubeqa_fftcorr.node kubeqa_fftcorr_avx2.node)

if [ -f "$cache/${addons[0]}" ] && [ -f "$cache/${addons[1]}" ]; then
  copied=0
  for addon in "${addons[@]}"; do
    if ! cmp -s "$cache/$addon" "$release/$addon"; then
      mkdir -p "$release"
      cp "$cache/$addon" "$release/$addon.tmp" && mv "$release/$addon.tmp" "$release/$addon"
      copied=1
    fi
  done
  [ "$copied" = 0 ] || say "reused the cached addon $cache"
  exit 0
fi

say "building the addon for $key (log: $cache.log)"
mkdir -p "$(dirname "$cache")"
(
  cd "$src"
  # Use the headers of the running Node when it ships them (Debian's nodejs, the node images).
  nodedir=$(dirname "$(dirname "$(node -p process.execPath)")")
  nodedir_arg=()
  [ -f "$nodedir/include/node/common.gypi" ] && nodedir_arg=(--nodedir="$nodedir")
  "$gyp" rebuild "${nodedir_arg[@]}"
) >"$cache.log" 2>&1 || { say "build failed; the end of $cache.log:"; tail -30 "$cache.log" >&2; exit 1; }
node -e "require('$release/${addons[0]}')" || { say "the built addon does not load"; exit 1; }
mkdir -p "$cache.tmp"
for addon in "${addons[@]}"; do cp "$release/$addon" "$cache.tmp/$addon"; done
rm -rf "$cache" && mv "$cache.tmp" "$cache"
say "built and cached in $cache"
