"""A training step whose framework cost is close to a plain PyTorch loop, through Keras' extension points.

Keras' torch trainer (``keras/src/backend/torch/trainer.py``) runs, per batch: ``Layer.__call__`` around the model
and again around the ``TorchModuleWrapper`` (which calls ``module.train()`` on every step, ~50 recursive calls for
a BERT), ``zero_grad`` over every module, Keras loss and metric ops, a list of gradients, and then
``CallbackList`` turns every log value into a Python float (one host synchronisation per value per step on a
GPU). :class:`FastTrainStep` overrides the documented hooks (``train_step``, ``test_step``,
``make_train_function``, ``make_test_function``, ``fit``) so that a step does only what a plain loop does:

- the module's train/eval mode is set when it changes (Keras' ``fit`` sets it once per epoch), not per step;
- each batch is moved to the device once (pinned memory and ``non_blocking`` on CUDA);
- the loss and the compiled metrics go through Keras' contract (``compute_loss``, ``_compile_metrics`` or an
  overridden ``compute_metrics``), the ``loss`` tracker is updated in place on the device;
- every step's loss is kept on the device in a :class:`StepLog` and read in chunks: one host read per
  :data:`READ_INTERVAL_S` seconds (so a live loss curve still updates at least once a second), together with the
  logs' metric values. Between reads ``train_step`` returns the logs of the last read (host floats), as Keras'
  own ``steps_per_execution`` does on other backends. Callbacks needing every step at once (the LR finder, the
  data-parallel metric sync) set :attr:`StepLog.every_step`.
"""

from __future__ import annotations

import logging
import math
import time

import keras
import torch

from kdemo.modeling.device_batches import OnDevice, RowTap, to_device
from kdemo.modeling.fast_losses import torch_loss_for, torch_metrics_update

log = logging.getLogger("kdemo.modeling.step")

#: Seconds between two host reads of the step losses and logs during training.
READ_INTERVAL_S = 0.5


class StepLog:
    """Every training step's loss, kept on the device and read in chunks.

    Attributes:
        losses: Host values of the losses read so far in the current fit, one per batch, in order.
        every_step: Read after every step (set by callbacks that act on each step's loss).
        read_interval_s: Seconds between reads otherwise.
    """

    def __init__(self, read_interval_s: float = READ_INTERVAL_S):
        self.read_interval_s = float(read_interval_s)
        self.every_step = False
        self.losses: list[float] = []
        self._pending: list[torch.Tensor] = []
        self._last_read = -math.inf

    def start(self) -> None:
        """Forget the previous fit (called when a fit starts)."""
        self.losses, self._pending, self._last_read, self.every_step = [], [], -math.inf, False

    def push(self, loss: torch.Tensor) -> None:
        """Keep one step's scalar loss (detached, on its device)."""
        self._pending.append(loss.detach())

    def due(self) -> bool:
        """Whether the next read is due (every step, or :attr:`read_interval_s` after the last read)."""
        return self.every_step or time.perf_counter() - self._last_read >= self.read_interval_s

    def read(self, extra: list[torch.Tensor] | tuple = ()) -> list[float]:
        """Move the pending losses and ``extra`` scalars to the host in one transfer.

        Args:
            extra: Further scalar tensors to read in the same transfer (the logs' metric values).

        Returns:
            The host values of ``extra``; the losses are appended to :attr:`losses`.
        """
        values = [*self._pending, *extra]
        self._last_read = time.perf_counter()
        if not values:
            return []
        host = torch.stack([v.detach().reshape(()).to(torch.float32) for v in values]).tolist()
        n = len(self._pending)
        self.losses.extend(host[:n])
        self._pending = []
        return host[n:]

    def flush(self) -> None:
        """Read whatever is pending."""
        if self._pending:
            self.read()

    def discard(self) -> None:
        """Drop the pending losses unread (after a failed fit)."""
        self._pending = []


class _StepState:
    """Per-fit caches of the step (a plain object, so Keras does not track its lists as weights)."""

    def __init__(self):
        self.variables: list | None = None
        self.params: list[torch.Tensor] = []
        self.logs: dict | None = None
        self.compiled = None
        self.compile_failed = False
        self.loss_for: object = None  # the compiled loss object fast_loss was made for
        self.fast_loss = None
        self.metrics_for: object = None  # the (built) compiled metrics fast_metrics was made for
        self.fast_metrics = None
        self.observer = None  # called with each training step's outputs (see FastTrainStep.observe_training)
        self.tap = RowTap()  # the rows of the fetched training batches, while an observer is attached


def _scalar(value) -> bool:
    return isinstance(value, torch.Tensor) and value.numel() == 1


class FastTrainStep:
    """Mixin for a ``keras.Model`` (torch backend) whose ``call(inputs, training)`` runs a torch module.

    Put it before ``keras.Model`` in the bases and call :meth:`_init_fast_step` in ``__init__``. The model must
    have ``device_type`` (``"cpu"``, ``"cuda"``…). Subclasses may override ``compute_loss`` or
    ``compute_metrics`` (Keras' contract) and the step uses them.

    Attributes:
        step_log: The :class:`StepLog` of the current (or last) fit.
        compile_step: Whether the forward pass runs through ``torch.compile`` (see :meth:`set_compile`).
    """

    def _init_fast_step(self) -> None:
        self.step_log = StepLog()
        self._step_state = _StepState()
        self.compile_step = False

    # ------------------------------------------------------------------ Keras hooks
    def _device(self) -> torch.device:
        if self.device_type == "cuda":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device(self.device_type)

    def _on_device(self, data, tap: RowTap | None = None):
        """A kdemo/Keras ``PyDataset`` wrapped in :class:`OnDevice`; anything else as it is."""
        if isinstance(data, keras.utils.PyDataset) and not isinstance(data, OnDevice):
            return OnDevice(data, self._device(), tap)
        return data

    def observe_training(self, observer) -> None:
        """Call ``observer(y, y_pred, rows)`` after the forward pass of every training step from now on (None stops).

        ``y`` are the batch's labels and ``y_pred`` its outputs (detached, on the device), ``rows`` the dataset rows
        of the batch, int64 ``(batch,)`` (None when the training data does not know its rows: only kdemo's
        ``BatchSequence`` and its kin have ``batch_rows``). No extra forward pass runs; without an observer the step
        only tests that there is none. Used by :class:`~kdemo.training.callbacks.training_dynamics.TrainingDynamics`.

        Args:
            observer: The callable, or None.
        """
        state = self._step_state
        state.observer = observer
        state.tap.active = observer is not None
        state.tap.pending.clear()

    def fit(self, x=None, *args, validation_data=None, **kwargs):
        """Keras ``fit``, with the step's per-fit caches reset, batches moved to the device once (:class:`OnDevice`)
        and every step's loss read at the end."""
        self.step_log.start()
        self._step_state.variables = None  # trainable weights may differ from the last fit (freezing)
        self._step_state.logs = None
        try:
            history = super().fit(self._on_device(x, self._step_state.tap), *args,
                                  validation_data=self._on_device(validation_data), **kwargs)
        except BaseException:
            self.step_log.discard()  # e.g. out of memory: reading the device now could fail and hide the error
            self.observe_training(None)  # a recorder's on_train_end never ran (a retried fit attaches it again)
            raise
        self.step_log.flush()
        return history

    def make_train_function(self, force=False):
        """One training step per call on a batch moved to the device once (Keras' torch contract)."""
        if self.train_function is not None and not force:
            return self.train_function
        device = self._device()

        def one_step_on_data(data):
            return self.train_step(to_device(data[0], device))

        self.train_function = one_step_on_data
        return self.train_function

    def make_test_function(self, force=False):
        """One evaluation step per call, without gradients, on a batch moved to the device once."""
        if self.test_function is not None and not force:
            return self.test_function
        device = self._device()

        def one_step_on_data(data):
            with torch.no_grad():
                return self.test_step(to_device(data[0], device))

        self.test_function = one_step_on_data
        return self.test_function

    def train_step(self, data):
        """Forward, Keras loss, backward and the optimizer's update on one batch.

        Args:
            data: ``(x, y)`` or ``(x, y, sample_weight)`` of tensors on the device.

        Returns:
            The logs dict (metric name -> float) as of the last read (see :class:`StepLog`).
        """
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        state = self._step_state
        if state.variables is None:
            state.variables = list(self.trainable_weights)
            state.params = [v.value for v in state.variables]
        for param in state.params:  # set_to_none, as Keras' zero_grad and torch's default
            param.grad = None
        y_pred = self._train_forward(x)
        if state.observer is not None:
            state.observer(y, y_pred.detach(), state.tap.take())
        loss = self._loss(x, y, y_pred, sample_weight, training=True)
        custom = self._update_metrics(x, y, y_pred, loss, sample_weight)
        self.step_log.push(loss)
        if state.params:
            self.optimizer.scale_loss(loss).backward()
            with torch.no_grad():
                self.optimizer.apply([p.grad for p in state.params], state.variables)
        if state.logs is None or self.step_log.due():
            state.logs = self._read_logs(custom)
        return state.logs

    def test_step(self, data):
        """Forward pass, loss and metric updates on one evaluation batch (no step-loss record).

        Returns:
            The logs dict as of the last read; ``evaluate`` reads the final metric values itself.
        """
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y_pred = self.call(x, training=False)
        loss = self._loss(x, y, y_pred, sample_weight, training=False)
        custom = self._update_metrics(x, y, y_pred, loss, sample_weight)
        state = self._step_state
        if state.logs is None or time.perf_counter() - self.step_log._last_read >= self.step_log.read_interval_s:
            state.logs = self._read_logs(custom, losses=False)
        return state.logs

    def evaluate(self, x=None, *args, **kwargs):
        """Keras ``evaluate`` on batches moved to the device once; its per-batch logs are read as in training (the
        final values are exact)."""
        saved = self._step_state.logs
        self._step_state.logs = None
        try:
            return super().evaluate(self._on_device(x), *args, **kwargs)
        finally:
            self._step_state.logs = saved

    # ------------------------------------------------------------------ pieces
    def _loss(self, x, y, y_pred, sample_weight, *, training: bool):
        """Keras' ``compute_loss``, or its exact torch equivalent (:mod:`kdemo.modeling.fast_losses`) when the
        model neither overrides ``compute_loss`` nor has ``add_loss`` losses."""
        state = self._step_state
        if state.loss_for is not self.loss:
            state.loss_for = self.loss
            plain = type(self).compute_loss is keras.Model.compute_loss and not self.losses
            state.fast_loss = torch_loss_for(self.loss) if plain else None
        if state.fast_loss is not None:
            loss = state.fast_loss(y, y_pred, sample_weight)
            if loss is not None:
                return loss
        return self._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)

    def _update_metrics(self, x, y, y_pred, loss, sample_weight) -> dict | None:
        """Update the ``loss`` tracker in place and the compiled metrics; return an overridden
        ``compute_metrics``' result dict, else None."""
        rows = _rows(x)
        tracker = getattr(self, "_loss_tracker", None)
        if tracker is not None:
            with torch.no_grad():  # Keras: Mean.update_state(loss, sample_weight=rows), without its op overhead
                tracker.total.value.add_(loss.detach().to(tracker.total.value.dtype) * rows)
                tracker.count.value.add_(rows)
        if type(self).compute_metrics is not keras.Model.compute_metrics:
            return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        compiled = self._compile_metrics
        if compiled is not None:
            state = self._step_state
            if state.metrics_for is not compiled:  # Keras builds them on their first update
                state.fast_metrics = torch_metrics_update(compiled)
                state.metrics_for = compiled if state.fast_metrics is not None or compiled.built else None
            with torch.no_grad():
                if state.fast_metrics is None or not state.fast_metrics(y, y_pred.detach()):
                    compiled.update_state(y, y_pred.detach(), sample_weight)
        return None

    def _read_logs(self, custom: dict | None, *, losses: bool = True) -> dict:
        """The logs as host floats, read together with the pending step losses in one transfer."""
        results = custom if custom is not None else self.get_metrics_result()
        keys = [k for k, v in results.items() if _scalar(v)]
        if losses:
            values = self.step_log.read([results[k] for k in keys])
        else:
            values = torch.stack([results[k].detach().reshape(()).to(torch.float32) for k in keys]).tolist() if keys else []
            self.step_log._last_read = time.perf_counter()
        logs = {k: v for k, v in results.items() if not _scalar(v)}
        logs.update(zip(keys, values))
        return logs

    def set_compile(self, enabled: bool) -> None:
        """Run the training forward pass through ``torch.compile`` (default off).

        Sequence lengths are padded up to multiples of :data:`COMPILE_LENGTH_MULTIPLE` (padding is masked, so the
        result is the same) so that few shapes reach the compiler; after the second shape torch's automatic
        dynamic shapes compile one graph for all lengths. When ``torch.compile`` is missing or fails (no C++
        compiler, an unsupported model), training continues without it and a warning is logged.

        Args:
            enabled: Whether to compile.
        """
        self.compile_step = bool(enabled)
        self._step_state.compiled = None
        self._step_state.compile_failed = False

    def _train_forward(self, x):
        if not self.compile_step or self._step_state.compile_failed:
            return self.call(x, training=True)
        state = self._step_state
        x = self._bucketed(x)
        if state.compiled is None:
            if not hasattr(torch, "compile"):
                state.compile_failed = True
                log.warning("torch.compile is not available; training without it.")
                return self.call(x, training=True)
            state.compiled = torch.compile(self.call)
        try:
            return state.compiled(x, training=True)
        except Exception as exc:  # any compiler failure: fall back to eager, never fail the run
            if "out of memory" in str(exc).lower():
                raise
            state.compile_failed = True
            log.warning("torch.compile failed (%s: %s); training without it.", type(exc).__name__, str(exc)[:200])
            return self.call(x, training=True)

    def _bucketed(self, x):
        """Pad the sequence axis of the inputs up to a multiple of :data:`COMPILE_LENGTH_MULTIPLE`."""
        if not isinstance(x, dict) or "input_ids" not in x or getattr(self, "task", None) == "token_classification":
            return x  # token models: labels have the sequence axis too
        length = x["input_ids"].shape[1]
        extra = -length % COMPILE_LENGTH_MULTIPLE
        if not extra:
            return x
        config = getattr(getattr(self, "hf_model", None), "config", None)
        values = {"input_ids": getattr(config, "pad_token_id", None) or 0}
        return {k: torch.nn.functional.pad(v, (0, extra), value=values.get(k, 0)) if v.dim() == 2 else v
                for k, v in x.items()}


#: With ``compile_step``, sequence lengths are padded up to a multiple of this many tokens.
COMPILE_LENGTH_MULTIPLE = 16


def _rows(x) -> int:
    """Rows of a batch of inputs (a dict of ``(batch, seq_len)`` tensors, or a tensor)."""
    if isinstance(x, dict):
        first = x.get("input_ids")
        if first is None:
            first = next(v for v in x.values() if v is not None)
        return int(first.shape[0])
    if isinstance(x, (tuple, list)):
        return _rows(x[0])
    return int(x.shape[0])
