"""AdamW whose update is torch's fused kernel, behind the public ``keras.optimizers.Optimizer`` API.

Keras' own AdamW (a ``_foreach`` implementation) adds 10–15 % per training step on a transformer; torch's
``AdamW(fused=True)`` updates all parameters in one kernel. :class:`FusedAdamW` is a normal Keras optimizer (it
works with ``model.compile``, ``fit``, callbacks that set ``optimizer.learning_rate``, and learning-rate
schedules), whose :meth:`apply` hands the gradients Keras' torch trainer already left in ``param.grad`` to the
fused torch step. AdamW itself is Loshchilov & Hutter, "Decoupled Weight Decay Regularization" (2019,
https://arxiv.org/abs/1711.05101).
"""

from __future__ import annotations

import keras
import torch
from keras.optimizers.schedules import LearningRateSchedule


class FusedAdamW(keras.optimizers.Optimizer):
    """Keras optimizer running ``torch.optim.AdamW(fused=True)``.

    Weight decay applies to matrices only (parameters with 2 or more dimensions); biases and LayerNorm weights
    (1-D) are excluded, as in BERT's original recipe.

    Args:
        learning_rate: Learning rate per optimizer step: a float, or a
            ``keras.optimizers.schedules.LearningRateSchedule``.
        beta_1: Adam's first-moment decay (momentum). Settable between steps (one-cycle cycles it).
        beta_2: Adam's second-moment decay.
        epsilon: Adam's epsilon.
        weight_decay: Decoupled weight decay coefficient (torch's default, 0.01).
        clipnorm: If set, gradients are clipped to this global L2 norm before the step.
        accumulation_steps: Gradient accumulation: the update runs every ``accumulation_steps`` batches on the
            mean of their gradients, so ``batch_size * accumulation_steps`` rows make one optimizer step. The
            learner raises it when it halves the batch after running out of memory.
        name: Optimizer name.
    """

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule = 1e-4,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        weight_decay: float = 0.01,
        clipnorm: float | None = 1.0,
        accumulation_steps: int = 1,
        name: str = "fused_adamw",
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.decoupled_weight_decay = float(weight_decay)
        self.max_grad_norm = None if clipnorm is None else float(clipnorm)
        self._torch_opt: torch.optim.AdamW | None = None
        self._params: list[torch.nn.Parameter] = []
        self._lr_tensor: torch.Tensor | None = None
        if int(accumulation_steps) < 1:
            raise ValueError(f"Expected accumulation_steps >= 1. Received: {accumulation_steps!r}.")
        self.accumulation_steps = int(accumulation_steps)
        self._grad_sums: list[torch.Tensor] | None = None
        self._had_grad: list[bool] = []
        self._micro_steps = 0

    def build(self, variables):
        super().build(variables)
        self._build_torch(variables)

    def _build_torch(self, variables) -> None:
        params = [v.value for v in variables]
        self._params = params
        if isinstance(self._learning_rate, keras.Variable):
            # The fused kernel reads this tensor each step: assigning the Keras variable (as schedulers do) needs
            # no host-device synchronisation.
            self._lr_tensor = self._learning_rate.value
        else:
            self._lr_tensor = torch.tensor(0.0, device=params[0].device if params else "cpu")
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        groups = [
            {"params": decay, "weight_decay": self.decoupled_weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
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
        """Add this batch's gradients to the running sums; on the last batch of a group, put their mean in
        ``param.grad`` and return True (time to step)."""
        if self._grad_sums is None:
            self._grad_sums = [torch.zeros_like(p) for p in self._params]
            self._had_grad = [False] * len(self._params)
        pairs = [(i, p.grad) for i, p in enumerate(self._params) if p.grad is not None]
        if pairs:
            torch._foreach_add_([self._grad_sums[i] for i, _ in pairs], [g for _, g in pairs])
            for i, _ in pairs:
                self._had_grad[i] = True
        self._micro_steps += 1
        if self._micro_steps < self.accumulation_steps:
            return False
        sums = [s for s, had in zip(self._grad_sums, self._had_grad) if had]
        torch._foreach_mul_(sums, 1.0 / self._micro_steps)
        for p, s, had in zip(self._params, self._grad_sums, self._had_grad):
            p.grad = s if had else None
        return True

    def _finish_accumulation(self) -> None:
        """Zero the sums after a step (``param.grad`` aliased them; Keras clears it before the next batch)."""
        torch._foreach_zero_(self._grad_sums)
        self._had_grad = [False] * len(self._params)
        self._micro_steps = 0

    def apply(self, grads, trainable_variables=None):
        """Apply one AdamW step to ``trainable_variables`` using the gradients in their ``.grad``.

        Args:
            grads: Gradient tensors, one per variable (those Keras' torch trainer read from ``param.grad``).
            trainable_variables: The Keras variables to update; on the first call they build the optimizer.
        """
        if trainable_variables is None:
            trainable_variables = self._trainable_variables
        trainable_variables = list(trainable_variables)
        if not self.built:
            self.build(trainable_variables)
        elif len(trainable_variables) != len(self._params) or any(
            v.value is not p for v, p in zip(trainable_variables, self._params)
        ):
            # The set of trainable variables changed (freeze/unfreeze): rebuild the torch optimizer. Compared by
            # identity: `==` on tensors is elementwise and raises for lists of same length but other tensors.
            self._build_torch(trainable_variables)
            self._grad_sums = None
        if self.accumulation_steps > 1 and not self._accumulate():
            return
        if not isinstance(self._learning_rate, keras.Variable):
            self._lr_tensor.fill_(float(keras.ops.convert_to_numpy(self.learning_rate)))
        for group in self._torch_opt.param_groups:
            group["betas"] = (self.beta_1, self.beta_2)
        if self.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self._params, self.max_grad_norm, foreach=True)
        self._torch_opt.step()
        if self.accumulation_steps > 1:
            self._finish_accumulation()
        self._iterations.assign_add(1)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "weight_decay": self.decoupled_weight_decay,
                "clipnorm": self.max_grad_norm,
                "accumulation_steps": self.accumulation_steps,
            }
        )
        return config
