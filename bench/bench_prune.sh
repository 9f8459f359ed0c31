#!/usr/bin/env bash
# DEALRec scoring throughput (stage prune): influence (mean gradient, LiSSA, batched per-sample
# gradients of the surrogate SASRec) and effort (per-sample LLM gradient norms) in samples/s, on
# 1 rank and on 2 ranks x 1 thread, the same samples and settings on both sides (float32). The
# ratio is the 2-rank speed-up of each phase. Prints one JSON object on stdout.
#   bench/bench_prune.sh   (MovieLens 100K from ../shared when present, else synthetic)
#   EFFORT_PARAMS=head bench/bench_prune.sh   (effort over the LM head only; default all)
# The gradient pass computes the batched per-sample gradients (kept in memory) and their mean;
# LiSSA then runs prune.influence.depth HVPs; the dot pass scores every sample against H^-1 v.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
grec="${GREC_BIN:-$root/build/grec}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
ml="${GREC_SHARED_DATASETS:-$root/../shared/datasets}/ml-100k"
if [[ -d "$ml" ]]; then
  data=(--set ingest.format=movielens --set ingest.input="$ml")
  dataset=ml-100k
else
  data=(--set ingest.format=synth --set ingest.synth.users=1000 --set ingest.synth.items=800)
  dataset=synthetic
fi
source "$root/launch/mpi_flags.sh" 2
cfg="$tmp/bench.yaml"
printf 'run: { dir: %s, name: prune }\n' "$tmp" > "$cfg"
common=(--set sasrec.train.epochs=3 --set sasrec.hidden=64 --set rqvae.train.epochs=50
        --set prune.keep=0.1 --set prune.influence.depth=1000 --set prune.effort.warmup_steps=20
        --set prune.effort.valid_users=50 --set prune.effort.params="${EFFORT_PARAMS:-all}" --set align.valid.users=50 --set dist.threads=1)
"$grec" run "$cfg" --set "run.stages=[ingest, sasrec, embed, rqvae]" "${data[@]}" "${common[@]}" \
  >/dev/null 2>"$tmp/setup.log" || { cat "$tmp/setup.log" >&2; exit 1; }

run() {  # name ranks
  rm -rf "$tmp/prune/checkpoints/prune"
  mpirun -np "$2" "${MPI_FLAGS[@]}" "$grec" stage prune "$cfg" --force "${data[@]}" "${common[@]}" \
    >/dev/null 2>"$tmp/$1.log" || { cat "$tmp/$1.log" >&2; exit 1; }
  cp "$tmp/prune/artifacts/prune/results.json" "$tmp/$1.json"
}
run r1 1
run r2 2

python3 - "$tmp" "$dataset" "$(lscpu | sed -n 's/^Model name: *//p')" "${EFFORT_PARAMS:-all}" <<'PY'
import json, sys
tmp, dataset, cpu, effort = sys.argv[1:5]
def figures(name):
    r = json.load(open(f"{tmp}/{name}.json"))
    p = r["phases"]
    inf = p["influence"]
    return {"samples": r["samples"],
            "influence_total_samples_per_s": round(inf["samples_per_s"], 1),
            "gradient_pass_samples_per_s": round(inf["mean_grad"]["samples_per_s"], 1),
            "lissa_hvp_per_s": round(inf["lissa_phase"]["hvp_per_s"], 1),
            "influence_dot_samples_per_s": round(inf["per_sample"]["samples_per_s"], 1),
            "effort_samples_per_s": round(p["effort"]["samples_per_s"], 1),
            "warmup_s": round(p["effort"]["warmup_s"], 1),
            "wall_s": round(r["wall_s"], 1)}
a, b = figures("r1"), figures("r2")
ratio = {k: round(b[k] / a[k], 3) for k in a if k.endswith("_per_s")}
print(json.dumps({"bench": "prune_scoring", "dataset": dataset, "cpu": cpu, "precision": "fp32",
                  "theta": "last_attn_out", "effort_params": effort, "one_rank": a, "two_ranks_x_1thread": b,
                  "ratio_2_over_1": ratio}))
PY
