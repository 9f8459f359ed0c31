#!/usr/bin/env bash
# launch/test.sh [ctest args]: sets up and builds if needed, then runs the whole test suite
# through CTest (unit tests and the 2-rank MPI tests).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/launch/setup.sh"
cd "${GREC_BUILD_DIR:-$root/build}"
exec ctest --output-on-failure -j "$(nproc)" "$@"
