"""Child process of tests/test_stop_memory.py: train a mid-size random-init BERT, press Stop mid-epoch, and print
memory figures as one JSON line. A separate process keeps the measurement free of the test runner's own memory.

Usage: python tests/memory_probe.py MODEL_DIR
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: conftest

import torch  # noqa: E402
from conftest import sentiment_frame  # noqa: E402

import kdemo  # noqa: E402,F401  (sets KERAS_BACKEND before keras is imported)
from kdemo import get_learner, get_predictor, texts_from_df  # noqa: E402
from kdemo.memory import device_allocated_bytes, release_memory, rss_bytes  # noqa: E402

STOP_AT_STEP = 6


def main(model_dir: str) -> None:
    torch.set_num_threads(1)
    trn, val, preproc = texts_from_df(sentiment_frame(400), "text", "label", model_name=model_dir, val_pct=0.1, verbose=0)
    model = preproc.get_classifier()
    learner = get_learner(model, train_data=trn, val_data=val, batch_size=16)
    device = model.device_type
    # Warm-up: the first training steps of a process load native code and caches (oneDNN kernels, autograd
    # buffers: about 60-90 MB of RSS on this CPU) that stay for the life of the process, whatever is trained
    # afterwards. The baseline is the idle process with the model loaded after that, so the check is about what
    # training holds (gradients, Adam moments, activations), not about one-time library start-up.
    cold = rss_bytes()
    learner.fit_onecycle(1e-3, 1, verbose=0, steps_per_epoch=2)
    release_memory(device)
    baseline = {"rss": rss_bytes(), "device": device_allocated_bytes(device)}
    peak = {"rss": 0, "device": 0}
    steps_at_request: list[int] = []

    def on_progress(ev):
        peak["rss"] = max(peak["rss"], rss_bytes())
        peak["device"] = max(peak["device"], device_allocated_bytes(device))
        if ev.phase == "train" and ev.step == STOP_AT_STEP:
            # Step losses are read in chunks, so step 6's event can arrive some steps later: what counts is how
            # many steps were done when Stop was pressed.
            steps_at_request.append(len(learner.model.step_log.losses))
            learner.request_stop()  # what the UI's Stop button does, from another thread in the app

    thread = threading.Thread(target=lambda: learner.fit_onecycle(1e-3, 3, verbose=0, progress=on_progress))
    start = time.perf_counter()
    thread.start()
    thread.join()
    release_memory(device)
    after = {"rss": rss_bytes(), "device": device_allocated_bytes(device)}
    predictor = get_predictor(learner.model, preproc)
    label = predictor.predict("the movie was great fun")
    print(json.dumps({
        "device": device, "cold_rss": cold, "baseline": baseline, "peak": peak, "after": after,
        "steps_done": len(learner.step_losses), "steps_at_request": steps_at_request[0] if steps_at_request else None,
        "steps_per_epoch": -(-len(trn) // 16), "stopped_early": learner.stopped_early, "label": label,
        "seconds": time.perf_counter() - start,
        "parameters": sum(p.numel() for p in model.hf_model.parameters()),
    }))


if __name__ == "__main__":
    main(sys.argv[1])
