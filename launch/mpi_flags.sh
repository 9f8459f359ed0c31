# Sourced by the launch scripts: mpirun flags for this machine in the array MPI_FLAGS.
# --bind-to none: each rank runs several intra-op threads and must not be pinned to one core.
MPI_FLAGS=(--bind-to none)
if [[ "$(id -u)" == 0 ]]; then MPI_FLAGS+=(--allow-run-as-root); fi
ranks_wanted="${1:-2}"
if ((ranks_wanted > $(nproc))); then MPI_FLAGS+=(--oversubscribe); fi
