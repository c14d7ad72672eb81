#!/usr/bin/env bash
# Prove minigrad's CuPy path on a GPU machine in one short run (about 8 minutes at most):
#
#   bash bench/gpu_check.sh OUTDIR          (make gpu-check: OUTDIR = runs/gpu-check)
#
# Uses the python3 that is there ($PYTHON overrides it) and installs nothing. Five parts, in order, each
# with its own time limit; a failing part is recorded and the run goes on. Everything goes into OUTDIR:
#   env.txt                 1. GPU, CUDA, CuPy, NumPy, PyTorch versions
#   pytest-cuda.log         2. the suite's CUDA-parametrized tests (pytest -k cuda)
#   kernels.json/.log       3. fused steps and speed path on CUDA against the CPU (bench/gpu_check.py)
#   lm-cuda.jsonl, lm-cpu.jsonl  4. bench/lm.py on a short grid, on cuda and on cpu
#   char-lm/                5. a short char-LM training on cuda, then a sample on cpu
#   summary.txt             one line per part: ok / failed / skipped, with its key figures
# Without a GPU: part 1, part 2 (its cuda tests run as tests/conftest.py decides: skipped or on its
# CuPy stand-in), part 3 on the CPU (the paths against each other),
# and tiny CPU versions of parts 4 and 5 so their commands are exercised. GPU_CHECK_QUICK=1 drops part 2
# and halves part 3 (about 10 s in all); GPU_CHECK_DEVICE=cpu runs the no-GPU version on a GPU machine too.
set -u
OUT=${1:?usage: bash bench/gpu_check.sh OUTDIR}
PY=${PYTHON:-python3}
QUICK=${GPU_CHECK_QUICK:-0}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || exit 1
cd "$(dirname "$0")/.." || exit 1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
: > "$OUT/summary.txt"
END=$((SECONDS + 470))       # every part's limit is cut to what is left of 470 s: the whole run ends within 8 min

# record NAME STATUS FIGURES NOTE: one line of the summary
record() { printf '%-8s %-8s %s%s\n' "$1" "$2" "$3" "${4:+ ($4)}" | tee -a "$OUT/summary.txt"; }
# note TEXT: add to NOTES, the reasons shown after a part's figures
note() { [ -n "$1" ] && NOTES="${NOTES:+$NOTES; }$1"; }
# run SECONDS LOG CMD...: run with a time limit, output to LOG; sets STATUS (ok / failed) and NOTE (why)
run() {
  local limit=$1 log=$2; shift 2
  [ $((END - SECONDS)) -lt "$limit" ] && limit=$((END - SECONDS))
  if [ "$limit" -le 0 ]; then STATUS=skipped; NOTE="no time left"; return 1; fi
  timeout -k 5 "$limit" "$@" > "$log" 2>&1
  local rc=$?
  case $rc in 0) STATUS=ok; NOTE="" ;; 124|137) STATUS=failed; NOTE="timed out after $limit s, see $log" ;;
    *) STATUS=failed; NOTE="exit code $rc, see $log" ;; esac
  return $rc
}

if [ "${GPU_CHECK_DEVICE:-auto}" != cpu ] &&
   timeout 30 "$PY" -c "import cupy; assert cupy.cuda.runtime.getDeviceCount() > 0" > /dev/null 2>&1; then
  GPU=1
else
  GPU=0; echo "no CUDA device (CuPy missing, no GPU, or GPU_CHECK_DEVICE=cpu): GPU parts skip or run tiny CPU versions"
fi

# 1. environment
run 20 "$OUT/env.txt" "$PY" - <<'EOF'
import platform, numpy
print("python", platform.python_version(), "| numpy", numpy.__version__)
try:
    import cupy
    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    v, d = cupy.cuda.runtime.runtimeGetVersion(), cupy.cuda.runtime.driverGetVersion()
    print("gpu", name, "| memory", props["totalGlobalMem"] // 2**30, "GiB | devices", cupy.cuda.runtime.getDeviceCount())
    print("cuda runtime", f"{v // 1000}.{v % 1000 // 10}", "| driver", f"{d // 1000}.{d % 1000 // 10}",
          "| cupy", cupy.__version__)
except Exception as e:
    print("no CUDA device:", type(e).__name__, e)
try:
    import torch
    print("torch", torch.__version__, "| cuda", torch.version.cuda, "| cudnn", torch.backends.cudnn.version())
except Exception as e:
    print("torch not importable:", type(e).__name__)
EOF
record env "$STATUS" "$(grep -m1 -E '^(gpu|no CUDA)' "$OUT/env.txt"); $(grep -m1 -E '^cuda' "$OUT/env.txt" || head -1 "$OUT/env.txt")" "$NOTE"

# 2. the suite's CUDA-parametrized tests (-v: a timed-out run still shows what passed); test files whose
#    imports are missing here (no Graphviz, no Jupyter) are left out
if [ "$QUICK" = 1 ] && [ "$GPU" = 0 ]; then
  record tests skipped "no CUDA device and GPU_CHECK_QUICK=1"
else
  ARGS=(-v -k cuda tests/ -p no:cacheprovider)
  "$PY" -c "import xdist" 2>/dev/null && ARGS+=(-n 4 --dist loadgroup)
  LEFT_OUT=""
  for pair in graphviz:tests/test_viz.py nbformat:tests/test_tutorials.py nbclient:tests/test_tutorials.py; do
    "$PY" -c "import ${pair%%:*}" 2>/dev/null || { ARGS+=(--ignore "${pair#*:}"); LEFT_OUT+=" ${pair#*:} (no ${pair%%:*})"; }
  done
  run 140 "$OUT/pytest-cuda.log" "$PY" -m pytest "${ARGS[@]}"
  LINE=$(grep -E '^=+ .*(passed|failed|error|skipped).* =+$' "$OUT/pytest-cuda.log" | tail -1 | sed 's/^=* //; s/ =*$//')
  [ -n "$LINE" ] || LINE="so far $(grep -c ' PASSED' "$OUT/pytest-cuda.log") passed, $(grep -c ' FAILED' "$OUT/pytest-cuda.log") failed"
  [ "$GPU" = 1 ] || LINE+="; no CUDA device: the cuda tests ran as tests/conftest.py decides (stand-in or skip)"
  record tests "$STATUS" "${LINE}${LEFT_OUT:+; left out:$LEFT_OUT}" "$NOTE"
fi

# 3. fused and speed-path kernels against the CPU path (without CUDA: the paths against each other on CPU)
KARGS=(kernels --out "$OUT/kernels.json")
[ "$QUICK" = 1 ] && KARGS+=(--quick)
[ "$GPU" = 0 ] && KARGS+=(--device cpu)
run 60 "$OUT/kernels.log" "$PY" bench/gpu_check.py "${KARGS[@]}"
record kernels "$STATUS" "$(grep '^kernels:' "$OUT/kernels.log" | sed 's/^kernels: //')" "$NOTE"

# 4. bench/lm.py on a short grid: minigrad's paths on cuda taking turns in one process per configuration,
#    PyTorch's cuDNN LSTM (if it sees the GPU) in processes of its own, then minigrad's speed path on cpu
GRID=1x128,2x256,2x512,3x512
NOTES=""; S=ok
if [ "$GPU" = 1 ]; then
  run 60 "$OUT/lm-cuda.log" "$PY" bench/lm.py --device cuda --only $GRID --paired \
    --impls minigrad-layer,minigrad-fused,minigrad-fine --repeats 3 --iters 3 --out "$OUT/lm-cuda.jsonl"
  [ "$STATUS" = ok ] || S=failed; note "$NOTE"
  if "$PY" -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
    run 40 "$OUT/lm-cuda-torch.log" "$PY" bench/lm.py --device cuda --only $GRID --impls torch \
      --repeats 1 --iters 5 --out "$OUT/lm-cuda-torch.jsonl"
    [ "$STATUS" = ok ] || S=failed; note "$NOTE"
  else note "PyTorch with CUDA not importable: no cuDNN figures"; fi
  run 45 "$OUT/lm-cpu.log" "$PY" bench/lm.py --device cpu --only $GRID --impls minigrad-layer \
    --repeats 1 --iters 3 --max-seconds 5 --out "$OUT/lm-cpu.jsonl"
else   # tiny CPU version: one configuration, one iteration
  note "no CUDA device: tiny cpu run only"
  run 60 "$OUT/lm-cpu.log" "$PY" bench/lm.py --device cpu --only 1x128 --impls minigrad-layer \
    --repeats 1 --iters 1 --out "$OUT/lm-cpu.jsonl"
fi
[ "$STATUS" = ok ] || S=$STATUS; note "$NOTE"
record bench "$S" "$("$PY" bench/gpu_check.py bench-summary "$OUT"/lm-*.jsonl 2>&1)" "$NOTES"

# 5. a short char-LM training on cuda, then a sample from its checkpoint on cpu
if [ "$GPU" = 1 ]; then
  DEV=cuda; TRAIN=(--steps 300 --layers 2 --hidden 256 --batch 32 --seq-len 64 --val-every 100)
else   # tiny CPU version
  DEV=cpu; TRAIN=(--steps 20 --layers 1 --hidden 32 --batch 8 --seq-len 16 --val-every 10); fi
NOTES=""
[ "$GPU" = 1 ] || note "no CUDA device: tiny cpu run only"
run 50 "$OUT/char-lm-train.log" "$PY" -m models.char_lm train --device "$DEV" "${TRAIN[@]}" \
  --out "$OUT/char-lm" --no-progress
S=$STATUS; note "$NOTE"
run 15 "$OUT/char-lm-sample.log" "$PY" -m models.char_lm sample --checkpoint "$OUT/char-lm" \
  --device cpu --length 200 --seed 0 && cp "$OUT/char-lm-sample.log" "$OUT/char-lm/sample.txt"
[ "$S" = ok ] || STATUS=$S; note "$NOTE"
record char-lm "$STATUS" "$("$PY" bench/gpu_check.py lm-summary "$OUT/char-lm" 2>&1)" "$NOTES"

echo "== summary ($OUT/summary.txt, $SECONDS s) =="
cat "$OUT/summary.txt"
exit 0
