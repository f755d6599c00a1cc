#!/usr/bin/env bash
# The GPU check, one command (under 8 minutes on one H100/H200): the CUDA tests, then GPT-2 124M in bf16 with
# nlpt (eager and --compile) and with transformers, tokens/s, MFU against the GPU's peak and
# torch.cuda.max_memory_allocated against `nlpt params`' estimate (benchmarks/gpu_check.py).
#
#   bash benchmarks/gpu_check.sh [--steps 120] [--batch 16] [--context 1024] [--json results.json]
#   bash benchmarks/gpu_check.sh --cpu-smoke      # the same steps on the CPU with a tiny model (the test runs this)
#
# PYTHON picks the interpreter (default: python). Exit status: non-zero when a CUDA test or a run failed.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
status=0
echo "== CUDA tests (pytest -m cuda)"
"$PY" -m pytest tests/test_cuda.py -m cuda -q -rs -p no:cacheprovider || status=$?
if [ "$status" -eq 5 ]; then status=0; fi  # 5: nothing collected
echo "== GPT-2 124M: nlpt (eager, --compile) and transformers"
"$PY" benchmarks/gpu_check.py "$@" || status=$?
exit "$status"
