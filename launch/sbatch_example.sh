#!/usr/bin/env bash
# Example SLURM job: 2 nodes x 4 GPUs, one grec rank per GPU. Submit with
#   sbatch launch/sbatch_example.sh configs/ml100k.yaml
# grec catches SIGTERM (sent by SLURM before preemption or at the time limit with --signal),
# writes a checkpoint and exits with code 3; resubmitting the same job resumes it.
#SBATCH --job-name=grec
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=8
#SBATCH --time=24:00:00
#SBATCH --signal=TERM@300
#SBATCH --output=grec-%j.log
set -euo pipefail
config="${1:?usage: sbatch launch/sbatch_example.sh CONFIG [--set key=value ...]}"
shift
export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-8}"
# mpirun reads the allocation from SLURM; srun --mpi=pmix works too where Open MPI has PMIx.
mpirun -np "$SLURM_NTASKS" --bind-to none --map-by ppr:4:node build/grec run "$config" \
  --set dist.threads="$OMP_NUM_THREADS" "$@"
