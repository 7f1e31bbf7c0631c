"""Stop mid-epoch: training ends within one batch, the model predicts, and memory returns to the pre-training
baseline within 5 % (process RSS on CPU; ``torch.cuda.memory_allocated`` when run on a GPU)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_models import build_tiny_model

PROBE = Path(__file__).with_name("memory_probe.py")


@pytest.fixture(scope="module")
def mid_bert_dir(tmp_path_factory) -> Path:
    """A random-init BERT of 12.7 M parameters (hidden 512, 4 blocks): its gradients and Adam moments (~150 MB)
    are large enough to see in RSS."""
    return build_tiny_model(tmp_path_factory.mktemp("mid-bert"), "bert", hidden=512, layers=4)


def test_stop_mid_epoch_frees_training_memory(mid_bert_dir):
    out = subprocess.run([sys.executable, str(PROBE), str(mid_bert_dir)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # ends within one batch of the request, in the first of 3 epochs
    assert result["stopped_early"] and result["steps_done"] - result["steps_at_request"] <= 1, result
    assert result["steps_done"] < result["steps_per_epoch"], result
    assert result["label"] in ("negative", "positive")  # the model still predicts
    base, peak, after = result["baseline"]["rss"], result["peak"]["rss"], result["after"]["rss"]
    mib = 2**20
    training_state = 3 * 4 * result["parameters"]  # fp32 gradients + two Adam moments, bytes
    # the measurement can tell: training really held the extra state above the baseline ...
    assert peak - base > 0.5 * training_state, f"peak {peak / mib:.0f} MiB vs baseline {base / mib:.0f} MiB"
    # ... and after Stop the process is back to the baseline within 5 %
    assert abs(after - base) <= 0.05 * base, f"after {after / mib:.0f} MiB vs baseline {base / mib:.0f} MiB (peak {peak / mib:.0f})"
    if result["device"] == "cuda":
        assert abs(result["after"]["device"] - result["baseline"]["device"]) <= 0.05 * result["baseline"]["device"], result
