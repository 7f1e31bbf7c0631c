"""AdamW whose update is torch's fused kernel, behind the public ``keras.optimizers.Optimizer`` API.

Keras' own AdamW (a ``_foreach`` implementation) adds 10–15 % per training step on a transformer; torch's
``AdamW(fused=True)`` updates all parameters in one kernel. :class:`FusedAdamW` is a normal Keras optimizer (it
works with ``model.compile``, ``fit``, callbacks that set ``optimizer.learning_rate``, and learning-rate
schedules), whose :meth:`apply` hands the gradients Keras' torch trainer already left in ``param.grad`` to the
fused torch step. Its arguments keep Keras' names and meanings (``weight_decay``, ``clipnorm``, ``clipvalue``,
``global_clipnorm``, ``gradient_accumulation_steps``, :meth:`exclude_from_weight_decay`); see
``keras/src/optimizers/base_optimizer.py``. AdamW itself is Loshchilov & Hutter, "Decoupled Weight Decay
Regularization" (2019, https://arxiv.org/abs/1711.05101).
"""

from __future__ import annotations

import keras
import torch
from keras.optimizers.schedules import LearningRateSchedule

#: Global gradient-norm clip applied unless another clip is chosen: Hugging Face Trainer's ``max_grad_norm``.
DEFAULT_GLOBAL_CLIPNORM = 1.0


class FusedAdamW(keras.optimizers.Optimizer):
    """Keras optimizer running ``torch.optim.AdamW(fused=True)``.

    Weight decay: until :meth:`exclude_from_weight_decay` is called, it applies to matrices only (variables with 2
    or more dimensions), so biases and LayerNorm weights are excluded as in BERT's recipe. Once it is called,
    Keras' rule applies instead: every variable is decayed except those listed or whose name contains one of the
    given strings. (Variables of an :class:`~kdemo.modeling.classifier.HFClassifier` carry the HF parameter names,
    e.g. ``bert_encoder_layer_0_output_LayerNorm_weight``.)

    Gradient accumulation follows Keras: :attr:`iterations` counts optimizer updates (``_iterations // steps``),
    while a learning-rate *schedule* object sees every batch (Keras' "real" iterations); the update runs on every
    ``gradient_accumulation_steps``-th batch with the unweighted mean of those batches' gradients, and a group left
    incomplete at the end of ``fit`` is not applied. Clipping and weight decay act on the averaged gradient.

    Args:
        learning_rate: Learning rate per optimizer step: a float, or a
            ``keras.optimizers.schedules.LearningRateSchedule``.
        beta_1: Adam's first-moment decay (momentum). Settable between steps (one-cycle cycles it).
        beta_2: Adam's second-moment decay.
        epsilon: Adam's epsilon.
        weight_decay: Decoupled weight decay coefficient (torch's default 0.01; Keras' AdamW uses 0.004); None or
            0 disables it. Settable between steps through :attr:`weight_decay`.
        clipnorm: If set, each variable's gradient is clipped to this L2 norm (Keras' ``clipnorm``).
        clipvalue: If set, every gradient element is clipped to ``[-clipvalue, clipvalue]``.
        global_clipnorm: The gradients of all variables are scaled together so that their global L2 norm is at most
            this value (``torch.nn.utils.clip_grad_norm_``). Defaults to :data:`DEFAULT_GLOBAL_CLIPNORM` unless
            ``clipnorm`` or ``clipvalue`` is given; None disables it. At most one of the three clips may be set.
        gradient_accumulation_steps: None, or an int >= 2: batches whose gradients make one update (see above).
            The learner sets it when it halves the batch after running out of memory.

    Attributes:
        gradient_sync: None, or a function called with the torch parameters before every batch's gradients are
            used (data parallelism: :class:`kdemo.distributed.gradients.GradientSync`).
        name: Optimizer name.
        **kwargs: Other ``keras.optimizers.Optimizer`` arguments; ``use_ema`` and ``loss_scale_factor`` are not
            supported by the fused step.

    Raises:
        ValueError: For an unsupported or invalid argument (Keras' own checks included).
    """

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule = 1e-4,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        weight_decay: float | None = 0.01,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = DEFAULT_GLOBAL_CLIPNORM,
        gradient_accumulation_steps: int | None = None,
        name: str = "fused_adamw",
        **kwargs,
    ):
        for unsupported in ("use_ema", "loss_scale_factor"):
            if kwargs.get(unsupported):
                raise ValueError(f"Expected FusedAdamW without `{unsupported}` (the fused torch step does not support it). "
                                 f"Received: {unsupported}={kwargs[unsupported]!r}. Use keras.optimizers.AdamW instead.")
        if (clipnorm is not None or clipvalue is not None) and global_clipnorm == DEFAULT_GLOBAL_CLIPNORM:
            global_clipnorm = None  # the chosen clip replaces the default one
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, gradient_accumulation_steps=gradient_accumulation_steps,
                         name=name, **kwargs)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self._torch_opt: torch.optim.AdamW | None = None
        self._params: list[torch.nn.Parameter] = []
        self._decay_group: dict | None = None
        self._lr_tensor: torch.Tensor | None = None
        self._grad_sums: list[torch.Tensor] | None = None
        self._had_grad: list[bool] = []
        self._micro_steps = 0
        self._seen = _Seen()  # a plain holder: Keras' optimizer tracks lists assigned to its attributes
        self._host_lr: float | None = float(learning_rate) if isinstance(learning_rate, (int, float)) else None
        #: Called with the parameters before every update (accumulation included); data-parallel runs set it to a
        #: :class:`kdemo.distributed.gradients.GradientSync` that averages ``param.grad`` over the ranks.
        self.gradient_sync = None

    def build(self, variables):
        # Keras' build would add one accumulator Variable per weight when gradient_accumulation_steps is set; the
        # torch buffers of _accumulate are used instead, so that reset_state can free them between fits.
        steps = self.gradient_accumulation_steps
        self.gradient_accumulation_steps = None
        try:
            super().build(variables)
        finally:
            self.gradient_accumulation_steps = steps
        self._build_torch(variables)

    def _decays(self, variable) -> bool:
        """Whether ``variable`` gets weight decay: Keras' rule once ``exclude_from_weight_decay`` was called,
        else matrices only."""
        if hasattr(self, "_exclude_from_weight_decay"):
            return self._use_weight_decay(variable)
        return len(variable.shape) >= 2

    def _build_torch(self, variables) -> None:
        params = [v.value for v in variables]
        self._params = params
        self._grad_sums, self._had_grad, self._micro_steps = None, [], 0
        if isinstance(self._learning_rate, keras.Variable):
            # The fused kernel reads this tensor each step: assigning the Keras variable (as schedulers do) needs
            # no host-device synchronisation.
            self._lr_tensor = self._learning_rate.value
        else:
            self._lr_tensor = torch.tensor(0.0, device=params[0].device if params else "cpu")
        decays = [self._decays(v) for v in variables]
        self._decay_group = {"params": [p for p, d in zip(params, decays) if d], "weight_decay": self.weight_decay or 0.0}
        groups = [self._decay_group, {"params": [p for p, d in zip(params, decays) if not d], "weight_decay": 0.0}]
        self._torch_opt = torch.optim.AdamW(
            [g for g in groups if g["params"]],
            lr=self._lr_tensor,
            betas=(self.beta_1, self.beta_2),
            eps=self.epsilon,
            fused=True,
        )

    def reset_state(self) -> None:
        """Forget Adam's moment estimates and any accumulated gradients (e.g. after an LR-range test restored
        the weights, or to free their memory after training)."""
        if self._torch_opt is not None:
            self._torch_opt.state.clear()
        self._grad_sums, self._had_grad, self._micro_steps = None, [], 0

    def _accumulate(self) -> bool:
        """Add this batch's gradients to the running sums; on the last batch of a group, put their mean (Keras:
        ``(g + acc) / steps``) in ``param.grad`` and return True (time to update)."""
        if self._grad_sums is None:
            self._grad_sums = [torch.zeros_like(p) for p in self._params]
            self._had_grad = [False] * len(self._params)
        pairs = [(i, p.grad) for i, p in enumerate(self._params) if p.grad is not None]
        if pairs:
            torch._foreach_add_([self._grad_sums[i] for i, _ in pairs], [g for _, g in pairs])
            for i, _ in pairs:
                self._had_grad[i] = True
        self._micro_steps += 1
        if self._micro_steps < self.gradient_accumulation_steps:
            return False
        sums = [s for s, had in zip(self._grad_sums, self._had_grad) if had]
        torch._foreach_mul_(sums, 1.0 / self.gradient_accumulation_steps)
        for p, s, had in zip(self._params, self._grad_sums, self._had_grad):
            p.grad = s if had else None
        return True

    def _finish_accumulation(self) -> None:
        """Zero the sums after an update (``param.grad`` aliased them; Keras clears it before the next batch)."""
        torch._foreach_zero_(self._grad_sums)
        self._had_grad = [False] * len(self._params)
        self._micro_steps = 0

    def _clip(self) -> None:
        """Clip ``param.grad`` in place, as Keras' ``_clip_gradients`` would (no host synchronisation)."""
        if self.global_clipnorm:
            torch.nn.utils.clip_grad_norm_(self._params, self.global_clipnorm, foreach=True)
        elif self.clipnorm:
            grads = [p.grad for p in self._params if p.grad is not None]
            # Keras' _clip_by_norm: g * clipnorm / max(||g||, clipnorm), per variable.
            scales = torch._foreach_maximum(torch._foreach_norm(grads), self.clipnorm)
            torch._foreach_reciprocal_(scales)
            torch._foreach_mul_(scales, self.clipnorm)
            torch._foreach_mul_(grads, scales)
        elif self.clipvalue:
            torch.nn.utils.clip_grad_value_(self._params, self.clipvalue, foreach=True)

    def apply(self, grads, trainable_variables=None):
        """Apply one AdamW step to ``trainable_variables`` using the gradients in their ``.grad``.

        With gradient accumulation, a batch that does not complete a group only adds its gradients to the sums.

        Args:
            grads: Gradient tensors, one per variable (those Keras' torch trainer read from ``param.grad``).
            trainable_variables: The Keras variables to update; on the first call they build the optimizer.
        """
        if trainable_variables is None:
            trainable_variables = self._trainable_variables
        if not isinstance(trainable_variables, list):
            trainable_variables = list(trainable_variables)
        if not self.built:
            self.build(trainable_variables)
        elif trainable_variables is not self._seen.variables and (len(trainable_variables) != len(self._params) or any(
            v.value is not p for v, p in zip(trainable_variables, self._params)
        )):
            # The set of trainable variables changed (freeze/unfreeze): rebuild the torch optimizer. Compared by
            # identity: `==` on tensors is elementwise and raises for lists of same length but other tensors.
            self._build_torch(trainable_variables)
        self._seen.variables = trainable_variables  # the same list again (kdemo's step caches it): no re-check
        if self.gradient_sync is not None:
            self.gradient_sync(self._params)
        if self.gradient_accumulation_steps and not self._accumulate():
            self._count_batch()  # Keras counts every batch; `iterations` divides by the accumulation steps
            return
        if not isinstance(self._learning_rate, keras.Variable):
            self._lr_tensor.fill_(float(keras.ops.convert_to_numpy(self.learning_rate)))
        for group in self._torch_opt.param_groups:
            group["betas"] = (self.beta_1, self.beta_2)
        self._decay_group["weight_decay"] = self.weight_decay or 0.0
        self._clip()
        self._torch_opt.step()
        if self.gradient_accumulation_steps:
            self._finish_accumulation()
        self._count_batch()

    def _count_batch(self) -> None:
        """``_iterations += 1`` in place on the device (Keras' ``assign_add`` costs several ops per step)."""
        with torch.no_grad():
            self._iterations.value.add_(1)

    @property
    def learning_rate(self):
        """The learning rate per optimizer step (Keras' property; a variable, or a schedule's value)."""
        return self._get_current_learning_rate()

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        keras.optimizers.Optimizer.learning_rate.fset(self, learning_rate)
        # A Python number set by a schedule callback is also kept on the host, so reading it back (progress
        # events, ktrain's per-step trace) needs no device read.
        self._host_lr = float(learning_rate) if isinstance(learning_rate, (int, float)) else None

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Exclude variables from weight decay (Keras' method; replaces the matrices-only default).

        Args:
            var_list: Keras variables to exclude.
            var_names: Strings; a variable whose name contains any of them is excluded (e.g. ``["bias",
                "LayerNorm"]``).

        Raises:
            ValueError: If the optimizer is already built (its torch parameter groups are fixed then).
        """
        if self.built:
            raise ValueError("Expected exclude_from_weight_decay() before the optimizer is built. Received: a call after "
                             "the first training step. Call it right after creating the optimizer.")
        super().exclude_from_weight_decay(var_list=var_list, var_names=var_names)

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config


class _Seen:
    """The variable list of the last ``apply`` (kept out of Keras' attribute tracking)."""

    variables: list | None = None


def host_learning_rate(optimizer: keras.optimizers.Optimizer) -> float:
    """The optimizer's current learning rate as a Python float, per optimizer step.

    :class:`FusedAdamW` keeps the last number a schedule callback set on the host, so this reads no device memory
    (on a GPU a read of the learning-rate variable is a host synchronisation); other optimizers are read.
    """
    host = getattr(optimizer, "_host_lr", None)
    if host is not None:
        return host
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
