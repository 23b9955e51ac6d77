#!/usr/bin/env bash
# Installs what kubeqa needs on a Debian machine and is a no-op when all is there:
#  - the Debian packages listed in scripts/apt-packages.txt (as root, or with passwordless sudo);
#  - the npm dependencies (npm install from package-lock.json, when node_modules is missing or older).
#    Not `npm ci`: the registry mirror here lacks other platforms' optional binaries (biome), which
#    npm ci insists on finding in the lock file.
# Go (>= 1.25, for the test-only servers) and Node.js (>= 20.19) must already be installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

say() { printf '[setup] %s\n' "$*" >&2; }

node_major=$(node -p 'process.versions.node.split(".").map(Number).slice(0,2).join(".")' 2>/dev/null || echo 0)
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' 2>/dev/null; then
  say "Node.js >= 20.19 is required (found ${node_major}). Install it (Debian: apt-get install nodejs from a current release, or nodesource) and run again."
  exit 1
fi

mapfile -t wanted < <(grep -v '^\s*#' scripts/apt-packages.txt | grep -v '^\s*$')
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then sudo=(); elif sudo -n true 2>/dev/null; then sudo=(sudo -n); else
    say "missing Debian packages; install them with:"
    say "  sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies"
  npm install --no-audit --no-fund --no-save >&2
fi

# The needle matcher's OpenCV binding: built once per (package, OpenCV, Node ABI) into
# ~/.cache/kubeqa/opencv4nodejs and copied into node_modules on later runs and fresh clones.
"$root/scripts/build-opencv4nodejs.sh"
# Its FFT correlation addon (worker-image/needles/native), cached in ~/.cache/kubeqa/fftcorr.
"$root/scripts/build-fftcorr.sh"

# openQA's Python client (PyPI `openqa-client`) for the API compatibility tests, in a venv in the
# cache (never in the repository). Skipped when it imports already.
cache_root=${KUBEQA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubeqa}
venv="$cache_root/python"
if ! "$venv/bin/python" -c 'import openqa_client.client' 2>/dev/null; then
  say "installing openQA's Python client into $venv"
  /usr/bin/python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'openqa-client>=4.2' >&2
fi
