#!/usr/bin/env bash
# Installs the Debian packages grec needs (only the missing ones), then configures and builds
# grec into build/. Idempotent: seconds when everything is in place.
#
#   launch/setup.sh              packages + build everything (grec, tests, benchmarks)
#   launch/setup.sh --grec-only  packages + build just the grec executable (launch/run.sh)
#   launch/setup.sh --deps-only  packages only
#   GREC_BUILD_DIR=dir           build folder (default: build)
#   GREC_CMAKE_ARGS="..."        extra CMake arguments (e.g. -DCMAKE_PREFIX_PATH=/opt/libtorch)
#   GREC_SKIP_APT=1              never call apt-get (bring your own libraries)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${GREC_BUILD_DIR:-$root/build}"

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-openmp           # LibTorch + an optimised BLAS (reference BLAS is ~20x slower)
  libopenmpi-dev openmpi-bin                 # MPI
  libhdf5-dev zlib1g-dev                     # dataset store, .gz input
  libyaml-cpp-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
  libgtest-dev googletest
  libsentencepiece-dev                       # SentencePiece tokenizers (loaded as a module, see tokenizer/)
  libcpp-httplib-dev libssl-dev              # grec serve (HTTP/JSON), sha256 of bundle files
  python3-torch python3-h5py python3-regex   # independent references in tests/ and bench/
)

missing=()
for p in "${packages[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]})) && [[ "${GREC_SKIP_APT:-0}" != 1 ]]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo=()
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
[[ "${1:-}" == "--deps-only" ]] && exit 0

if [[ ! -f "$build/build.ninja" ]]; then
  # shellcheck disable=SC2086
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${GREC_CMAKE_ARGS:-} >&2
fi
if [[ "${1:-}" == "--grec-only" ]]; then
  cmake --build "$build" -j "$(nproc)" --target grec >&2
else
  cmake --build "$build" -j "$(nproc)" >&2
fi
