#!/usr/bin/env bash
# Stage distill's speed figures, the shipped stage on both sides: the teacher pass (the aligned
# LLM's constrained beam search over every student training history, items/s of the embedding
# pass) and serving speed, users/s of the student's full ranking vs the LLM's beam search on the
# same histories and the same ranks (float32 both). Prints one JSON object on stdout.
#   bench/bench_distill.sh RUN_DIR [RANKS]   a finished run with an aligned model (e.g. runs/ml100k);
#                                             its config is reused, its run folder is not touched
#   bench/bench_distill.sh                    a tiny synthetic pipeline is trained first
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
grec="${GREC_BIN:-$root/build/grec}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
ranks="${2:-2}"
source "$root/launch/mpi_flags.sh" "$ranks"
if [[ $# -ge 1 ]]; then
  src="$(cd "$1" && pwd)"
  [[ -f "$src/config.resolved.yaml" ]] || { echo "$src is not a grec run folder" >&2; exit 1; }
  # A copy of the run's inputs to distill (the teacher is recomputed here, the original is kept).
  mkdir -p "$tmp/run/artifacts"
  for a in ingest rqvae sasrec align evaluate; do cp -r "$src/artifacts/$a" "$tmp/run/artifacts/"; done
  cfg="$src/config.resolved.yaml"
  dataset="$(basename "$src")"
  set_run=(--set run.dir="$tmp" --set run.name=run --set data.dataset="$tmp/run/artifacts/ingest/dataset.h5")
else
  cfg="$tmp/tiny.yaml"
  cat > "$cfg" <<YAML
run: { name: run, dir: $tmp }
ingest: { format: synth, synth: { users: 600, items: 200, seed: 3 } }
sasrec: { hidden: 32, train: { epochs: 5 } }
rqvae: { codebook_size: 16, train: { epochs: 100 } }
align: { prompt_template: "{instruction}\n", model: { hidden: 64, layers: 2, heads: 2, kv_heads: 1, intermediate: 128 }, train: { epochs: 1 } }
evaluate: { max_users: 100, max_valid_users: 100 }
YAML
  "$grec" run "$cfg" --set "run.stages=[ingest, sasrec, embed, rqvae, align, evaluate]" --set dist.threads=1 \
    >/dev/null 2>"$tmp/setup.log" || { cat "$tmp/setup.log" >&2; exit 1; }
  dataset=synthetic
  set_run=()
fi
mpirun -np "$ranks" "${MPI_FLAGS[@]}" "$grec" stage distill "$cfg" "${set_run[@]}" --force \
  --set distill.enabled=true --set distill.compare_plain=false --set distill.train.epochs=1 \
  --set dist.threads=1 >"$tmp/distill.log" 2>&1 || { cat "$tmp/distill.log" >&2; exit 1; }
python3 - "$tmp/run/artifacts/distill/results.json" "$dataset" "$ranks" "$(lscpu | sed -n 's/^Model name: *//p')" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t, s = r["teacher_pass"], r["serving"]
print(json.dumps({"bench": "distill", "dataset": sys.argv[2], "ranks": int(sys.argv[3]), "cpu": sys.argv[4],
                  "precision": "fp32", "student": r["student"],
                  "teacher_samples": t["samples"], "teacher_list_wall_s": round(t["list_wall_s"], 2),
                  "teacher_samples_per_s": round(t["samples_per_s"], 2),
                  "embedding": t["embedding"], "embed_items_per_s": round(t["items_per_s"], 1),
                  "student_users_per_s": round(s["student_users_per_s"], 1),
                  "llm_users_per_s": round(s["llm_users_per_s"], 2),
                  "ratio_student_over_llm": round(s["speedup"], 1)}))
PY
