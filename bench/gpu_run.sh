#!/usr/bin/env bash
# ONE device call (<= 8 min with the installs): the full SST-2 epoch of kdemo vs Trainer vs the plain PyTorch loop
# on CUDA in bf16 (samples/s, dev accuracy), then the tiny-model whole-fit overhead on CUDA.
# Prepare first, here: bash bench/gpu_prepare.sh; then
#   run(command="bash bench/gpu_run.sh", carry=[".whl", ".gpu"], timeout_s=540)
# Results (logs and JSON) come back under $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
  python3 -c "import torch, transformers, keras; print('torch', torch.__version__, 'transformers', transformers.__version__, 'keras', keras.__version__, 'cuda', torch.cuda.is_available())"
  start=$(date +%s)
  timeout 330 python3 -m bench.gpu_sst2 --model .gpu/minilm --data .gpu/sst2 --json "$OUT/gpu_sst2.json" \
    --systems kdemo trainer plain kdemo_compiled
  echo "gpu_sst2 rc=$? after $(( $(date +%s) - start )) s"
  timeout 120 python3 -m bench.loop_overhead --models tiny minilm --steps 300 --minilm-steps 100 --repeats 3 \
    --minilm-source .gpu/minilm --json "$OUT/loop_overhead_cuda.json"
  echo "loop_overhead rc=$? after $(( $(date +%s) - start )) s"
} 2>&1 | tee "$OUT/gpu_run.log"
