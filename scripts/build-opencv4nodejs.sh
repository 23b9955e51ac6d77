#!/usr/bin/env bash
# Builds the native addon of @u4/opencv4nodejs against Debian's OpenCV (libopencv-dev) and caches
# it outside the repository, so a fresh clone reuses it instead of compiling for ~6 minutes again.
#
# Cache key: package version + OpenCV version + Node ABI, e.g.
#   ~/.cache/kubeqa/opencv4nodejs/7.1.2-opencv4.6.0-abi115/opencv4nodejs.node
# npm never builds it itself (package.json allowScripts denies it): this script is the one way.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pkg="$root/node_modules/@u4/opencv4nodejs"
say() { printf '[opencv4nodejs] %s\n' "$*" >&2; }

if [ ! -f "$pkg/package.json" ]; then
  say "node_modules/@u4/opencv4nodejs is missing: run npm install first"; exit 1
fi
if ! opencv_version=$(pkg-config --modversion opencv4 2>/dev/null); then
  say "Debian's OpenCV is missing: apt-get install -y libopencv-dev"; exit 1
fi
pkg_version=$(node -p "require('$pkg/package.json').version")
abi=$(node -p process.versions.modules)
key="${pkg_version}-opencv${opencv_version}-abi${abi}"
cache="${KUBEQA_CACHE_DIR:-$HOME/.cache/kubeqa}/opencv4nodejs/$key"
target="$pkg/build/Release/opencv4nodejs.node"

if [ -f "$cache/opencv4nodejs.node" ]; then
  if ! cmp -s "$cache/opencv4nodejs.node" "$target"; then
    mkdir -p "$(dirname "$target")"
    cp "$cache/opencv4nodejs.node" "$target.tmp" && mv "$target.tmp" "$target"
    say "reused the cached addon $cache"
  fi
  exit 0
fi

multiarch=$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)
libdir="/usr/lib/$multiarch"
if [ ! -e "$libdir/libopencv_core.so" ]; then say "missing $libdir/libopencv_core.so (apt-get install -y libopencv-dev)"; exit 1; fi

say "building the addon for $key (a few minutes, once per key; log: $cache.log)"
mkdir -p "$(dirname "$cache")"
start=$(date +%s)
(
  cd "$pkg"
  export OPENCV4NODEJS_DISABLE_AUTOBUILD=1
  export OPENCV_INCLUDE_DIR=/usr/include/opencv4
  export OPENCV_LIB_DIR="$libdir"
  export OPENCV_BIN_DIR=/usr/bin
  export JOBS="${JOBS:-$(nproc)}"
  # Use the headers of the running Node when it ships them (Debian's nodejs, nodesource): no download.
  nodedir=$(dirname "$(dirname "$(node -p process.execPath)")")
  nodedir_arg=()
  [ -f "$nodedir/include/node/common.gypi" ] && nodedir_arg=(--nodedir="$nodedir")
  "$root/node_modules/.bin/node-gyp" rebuild --jobs "$JOBS" "${nodedir_arg[@]}"
) >"$cache.log" 2>&1 || { say "build failed; the end of $cache.log:"; tail -30 "$cache.log" >&2; exit 1; }
node -e "require('$target')" || { say "the built addon does not load"; exit 1; }
mkdir -p "$cache.tmp"
cp "$target" "$cache.tmp/opencv4nodejs.node"
rm -rf "$cache" && mv "$cache.tmp" "$cache"
say "built in $(( $(date +%s) - start )) s, cached in $cache"
