#!/usr/bin/env bash
# launch/run.sh CONFIG [--set key=value ...]: sets up and builds if needed, then runs the
# pipeline `grec run CONFIG` under mpirun on GREC_RANKS ranks (default 2) on this machine.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if (($# < 1)); then
  echo "usage: launch/run.sh CONFIG [--set key.sub=value ...]" >&2
  exit 2
fi
"$root/launch/setup.sh" --grec-only   # the tests and benchmarks are launch/test.sh's to build
ranks="${GREC_RANKS:-2}"
source "$root/launch/mpi_flags.sh" "$ranks"
exec mpirun -np "$ranks" "${MPI_FLAGS[@]}" "${GREC_BUILD_DIR:-$root/build}/grec" run "$@"
