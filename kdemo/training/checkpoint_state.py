"""What a resumable training checkpoint holds, and how it is written and read back (no Keras callback here).

A resume checkpoint is the folder ``<checkpoint_folder>/resume/``, replaced as a whole on every write
(:func:`kdemo.atomic.atomic_folder`: a kill mid-write leaves the previous checkpoint). It holds:

* ``weights.safetensors``: every tensor of the model's state dict (``safetensors.torch.save_file``);
* ``optimizer.safetensors``: AdamW's per-parameter ``step``, ``exp_avg`` and ``exp_avg_sq`` (torch's fused AdamW
  state, see :class:`kdemo.training.optimizer.FusedAdamW`) and torch's CPU random-number-generator state;
* ``state.json``: the plan of the fit (method, learning rate, epochs, schedule arguments, batch size, total steps),
  the position (epoch, batches done in it, optimizer steps done), the one-cycle schedule's step, the loss of every
  optimizer step so far, the random states of Python and NumPy, and the batch-order state of the training
  :class:`~kdemo.data.dataset.BatchSequence` (its generator state before the current epoch's order was drawn).

This is what Hugging Face Trainer's ``resume_from_checkpoint`` restores too (model, optimizer, scheduler, RNG states,
data position).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import safetensors.torch
import torch

from kdemo.atomic import atomic_folder, recover
from kdemo.errors import TrainingError
from kdemo.training.checkpoint_writer import snapshot_state_dict, wait_for_writes

#: Sub-folder of a ``checkpoint_folder`` holding the resume checkpoint.
RESUME_DIR = "resume"
#: Bumped when the checkpoint layout changes; older readers refuse newer checkpoints.
STATE_VERSION = 1


@dataclass
class TrainingState:
    """The position and plan of a fit, as kept in ``state.json``.

    Attributes:
        plan: How the fit was called: ``method`` ("fit_onecycle"), ``lr``, ``epochs``, ``pct_start``,
            ``cycle_momentum``, ``max_momentum``, ``min_momentum``, ``class_weight`` (``{class_id: weight}`` with
            string keys, or None), ``batch_size``, ``accumulation_steps`` and ``total_steps`` (optimizer steps of the
            whole run).
        epoch: 0-based epoch the next batch belongs to.
        batch: Batches of that epoch already trained (0 at an epoch boundary).
        step: Optimizer steps done in the whole run.
        schedule_step: The one-cycle schedule's position (batches it has set a learning rate for).
        step_losses: Training loss of every optimizer step so far.
        val_points: ``(step, val_loss)`` at the end of each finished epoch with validation data.
        order_state: The training batches' generator state before epoch ``epoch``'s order was drawn.
        python_rng: ``random.getstate()`` as nested lists.
        numpy_rng: ``numpy.random.get_state()`` as a JSON-friendly list.
        finished: Whether the fit ran to its planned end.
        saved_at: Unix time of the write.
        version: :data:`STATE_VERSION`.
    """

    plan: dict
    epoch: int
    batch: int
    step: int
    schedule_step: int
    step_losses: list[float] = field(default_factory=list)
    val_points: list[tuple[int, float]] = field(default_factory=list)
    order_state: dict | None = None
    python_rng: list | None = None
    numpy_rng: list | None = None
    finished: bool = False
    saved_at: float = 0.0
    version: int = STATE_VERSION


def capture_rng() -> dict:
    """The global random states of Python, NumPy and torch (CPU), for :func:`restore_rng`."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"python_rng": [version, list(internal), gauss],
            "numpy_rng": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
            "torch_rng": torch.get_rng_state()}


def restore_rng(state: TrainingState, torch_rng: torch.Tensor | None) -> None:
    """Put back the random states of :func:`capture_rng` (dropout draws from torch's, so this makes a resumed run
    draw the same dropout masks as an uninterrupted one)."""
    if state.python_rng is not None:
        version, internal, gauss = state.python_rng
        random.setstate((version, tuple(internal), gauss))
    if state.numpy_rng is not None:
        name, keys, pos, has_gauss, cached = state.numpy_rng
        np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    if torch_rng is not None:
        torch.set_rng_state(torch_rng)


def _optimizer_tensors(optimizer) -> dict[str, torch.Tensor]:
    """AdamW's state as flat tensors ``p{i}.{name}``, ``i`` counting the parameters over the torch param groups."""
    opt = getattr(optimizer, "_torch_opt", None)
    if opt is None:
        return {}
    out = {}
    params = [p for group in opt.param_groups for p in group["params"]]
    for i, param in enumerate(params):
        for name, value in opt.state.get(param, {}).items():
            if isinstance(value, torch.Tensor):
                out[f"p{i}.{name}"] = value.detach().to("cpu").contiguous().clone()
    return out


def _load_optimizer(optimizer, model, tensors: dict[str, torch.Tensor]) -> None:
    """Build ``optimizer`` on the model's trainable variables and put AdamW's saved state back."""
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    opt = optimizer._torch_opt
    params = [p for group in opt.param_groups for p in group["params"]]
    opt.state.clear()
    for key, value in tensors.items():
        index, name = key[1:].split(".", 1)
        param = params[int(index)]
        opt.state.setdefault(param, {})[name] = value.to(param.device).clone()


def snapshot_checkpoint(model, state: TrainingState, rng: dict | None = None) -> Callable[[str | os.PathLike], Path]:
    """Copy what a resume checkpoint of ``model`` holds into host memory now, and return the function that writes
    that copy (so the write can run on another thread while training goes on; see
    :mod:`kdemo.training.checkpoint_writer`).

    Args:
        model: The model being trained (compiled, with its optimizer); its ``hf_model`` (an ``nn.Module``) holds
            the weights.
        state: Position, plan and losses; its RNG fields are filled here.
        rng: Random states captured earlier with :func:`capture_rng` (e.g. right after the last batch), or None
            to capture them now.

    Returns:
        ``write(folder) -> Path``: writes the snapshot to ``folder/resume`` atomically and returns that folder.
    """
    rng = rng or capture_rng()
    state.python_rng, state.numpy_rng, state.saved_at = rng["python_rng"], rng["numpy_rng"], time.time()
    weights = snapshot_state_dict(model.hf_model)
    tensors = _optimizer_tensors(getattr(model, "optimizer", None))
    tensors["torch_rng"] = rng["torch_rng"].clone()
    text = json.dumps(asdict(state))

    def write(folder: str | os.PathLike) -> Path:
        dest = Path(folder) / RESUME_DIR
        with atomic_folder(dest) as tmp:
            safetensors.torch.save_file(weights, str(tmp / "weights.safetensors"))
            safetensors.torch.save_file(tensors, str(tmp / "optimizer.safetensors"))
            (tmp / "state.json").write_text(text, encoding="utf-8")
        return dest

    return write


def save_checkpoint(folder: str | os.PathLike, model, state: TrainingState, rng: dict | None = None) -> Path:
    """Write the resume checkpoint of ``model`` (weights, optimizer) and ``state`` to ``folder/resume``, atomically,
    on this thread (:func:`snapshot_checkpoint` then its write).

    Args:
        folder: The fit's ``checkpoint_folder``.
        model: The :class:`~kdemo.modeling.classifier.HFClassifier` being trained (compiled, with its optimizer).
        state: Position, plan and losses; its RNG fields are filled here.
        rng: Random states captured earlier with :func:`capture_rng`, or None to capture them now.

    Returns:
        The checkpoint folder written.
    """
    return snapshot_checkpoint(model, state, rng)(folder)


def read_state(folder: str | os.PathLike) -> TrainingState:
    """The :class:`TrainingState` of the resume checkpoint in ``folder`` (a fit's ``checkpoint_folder``).

    Raises:
        TrainingError: If there is no resume checkpoint there, or it is from a newer kdemo.
    """
    wait_for_writes(folder)  # this process's background writes into it, if any
    dest = Path(folder) / RESUME_DIR
    recover(dest)  # a kill between the two renames of the fallback swap
    path = dest / "state.json"
    if not path.is_file():
        raise TrainingError(f"Expected a resume checkpoint in {dest} (written by fit_onecycle(checkpoint_folder=...)). "
                            "Received: no state.json there. Pass the checkpoint_folder of an earlier run.")
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("version", 0) > STATE_VERSION:
        raise TrainingError(f"Expected a checkpoint of version <= {STATE_VERSION}. Received: version {data['version']}. "
                            "Upgrade kdemo to resume it.")
    data["val_points"] = [tuple(p) for p in data.get("val_points", [])]
    return TrainingState(**data)


def load_checkpoint(folder: str | os.PathLike, model) -> tuple[TrainingState, torch.Tensor | None]:
    """Load the weights and optimizer state of the resume checkpoint in ``folder`` into ``model``.

    ``model`` must be compiled with a fresh optimizer (the learner's ``_fresh_optimizer``) of the same
    architecture and trainable variables as the checkpointed one.

    Args:
        folder: The fit's ``checkpoint_folder``.
        model: The :class:`~kdemo.modeling.classifier.HFClassifier` to continue training.

    Returns:
        ``(state, torch_rng)``: the position and plan, and torch's saved random state (restore it with
        :func:`restore_rng` right before the first resumed batch).

    Raises:
        TrainingError: If the checkpoint is missing or does not fit the model.
    """
    state = read_state(folder)
    dest = Path(folder) / RESUME_DIR
    weights = safetensors.torch.load_file(str(dest / "weights.safetensors"))
    missing, unexpected = model.hf_model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise TrainingError(f"Expected the checkpoint's weights to fit the model. Received: missing {sorted(missing)[:3]}, "
                            f"unexpected {sorted(unexpected)[:3]}. Resume with the same model and task.")
    tensors = safetensors.torch.load_file(str(dest / "optimizer.safetensors"))
    torch_rng = tensors.pop("torch_rng", None)
    _load_optimizer(model.optimizer, model, tensors)
    return state, torch_rng
