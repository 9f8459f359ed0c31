#!/usr/bin/env bash
# SASRec training throughput: 2 ranks x 1 thread vs 1 rank x 2 threads at the same global batch,
# with the communication share of step time. Prints one JSON object on stdout.
#   bench/bench_ranks.sh [STEPS]     (Amazon Beauty from ../shared when present, else synthetic data)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
grec="${GREC_BIN:-$root/build/grec}"
steps="${1:-300}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
beauty="${GREC_SHARED_DATASETS:-$root/../shared/datasets}/amazon-s3rec/Beauty.txt"
if [[ -f "$beauty" ]]; then
  data=(--set ingest.format=seqtxt --set ingest.input="$beauty" --set ingest.split=loo)
  dataset=beauty
else
  data=(--set ingest.format=synth --set ingest.synth.users=20000 --set ingest.synth.items=5000)
  dataset=synthetic
fi
source "$root/launch/mpi_flags.sh" 2
cfg="$tmp/bench.yaml"
printf 'run: { dir: %s }\n' "$tmp" > "$cfg"
common=(--set "run.stages=[ingest, sasrec]" --set sasrec.train.max_steps="$steps" --set sasrec.train.log_every=25
        --set sasrec.train.checkpoint_every=0 --set sasrec.train.global_batch_size=128
        --set sasrec.loss=ce --set sasrec.max_len=50 --set sasrec.hidden=64)

run() {  # name ranks threads
  mpirun -np "$2" "${MPI_FLAGS[@]}" "$grec" run "$cfg" --set run.name="$1" \
    --set dist.threads="$3" "${data[@]}" "${common[@]}" >/dev/null 2>"$tmp/$1.log" ||
    { cat "$tmp/$1.log" >&2; exit 1; }
}
run r1x2 1 2
run r2x1 2 1

python3 - "$tmp" "$dataset" "$steps" <<'PY'
import json, sys
tmp, dataset, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
def figures(name):
    recs = [json.loads(l) for l in open(f"{tmp}/{name}/metrics.jsonl") if l.strip()]
    recs = [r for r in recs if r.get("stage") == "sasrec" and "samples_per_s" in r]
    recs = recs[1:] or recs  # the first interval includes warm-up
    sps = sum(r["samples_per_s"] for r in recs) / len(recs)
    comm = sum(r["time_comm"] for r in recs) / len(recs)
    return {"samples_per_s": round(sps, 1), "comm_share": round(comm, 4),
            "compute_share": round(sum(r["time_compute"] for r in recs) / len(recs), 4)}
a, b = figures("r2x1"), figures("r1x2")
print(json.dumps({"bench": "sasrec_ranks_vs_threads", "dataset": dataset, "steps": steps,
                  "global_batch": 128, "grec_2ranks_x_1thread": a, "grec_1rank_x_2threads": b,
                  "ratio": round(a["samples_per_s"] / b["samples_per_s"], 3)}))
PY
