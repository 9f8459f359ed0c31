#!/usr/bin/env bash
# LC-Rec alignment throughput on the demo data: training tokens/s per rank at 1 and 2 ranks (the
# same global batch and steps; the reference is the 1-rank run of the same binary), the padding
# waste of the length-sorted chunks, and generative evaluation users/s (constrained beam search,
# beam 20 over all items). Prints one JSON object on stdout.
#   bench/bench_align.sh [STEPS] [--set key=value ...]   (e.g. --set align.train.group_by_length=false)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
grec="${GREC_BIN:-$root/build/grec}"
steps="${1:-60}"
shift || true
extra=("$@")
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
source "$root/launch/mpi_flags.sh" 2
cfg="$tmp/bench.yaml"
printf 'base: %s\nrun: { dir: %s }\n' "$root/configs/demo.yaml" "$tmp" > "$cfg"
common=(--set align.train.max_steps="$steps" --set align.train.log_every=10
        --set align.valid.users=50 --set evaluate.max_users=600 --set "evaluate.splits=[test]"
        "${extra[@]}")

run() {  # name ranks
  mpirun -np "$2" "${MPI_FLAGS[@]}" "$grec" run "$cfg" --set run.name="$1" --set dist.threads=1 \
    --set "run.stages=[ingest, embed, rqvae, align, evaluate]" "${common[@]}" >/dev/null 2>"$tmp/$1.log" ||
    { cat "$tmp/$1.log" >&2; exit 1; }
}
run r1 1
run r2 2

python3 - "$tmp" "$steps" <<'PY'
import json, sys
tmp, steps = sys.argv[1], int(sys.argv[2])
def figures(name, ranks):
    a = json.load(open(f"{tmp}/{name}/artifacts/align/results.json"))
    e = json.load(open(f"{tmp}/{name}/artifacts/evaluate/results.json"))
    return {"ranks": ranks, "train_tokens_per_s": round(a["train_tokens_per_s"], 1),
            "train_tokens_per_s_per_rank": round(a["train_tokens_per_s"] / ranks, 1),
            "padding_waste": round(a["padding_waste"], 4),
            "eval_users_per_s": round(e["test"]["llm"]["users_per_s"], 1)}
one, two = figures("r1", 1), figures("r2", 2)
print(json.dumps({"bench": "align", "data": "demo (synthetic)", "steps": steps,
                  "grec": two, "reference": one,
                  "ratio": round(two["train_tokens_per_s"] / one["train_tokens_per_s"], 3),
                  "eval_ratio": round(two["eval_users_per_s"] / one["eval_users_per_s"], 3)}))
PY
