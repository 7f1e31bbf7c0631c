"""Token attributions of a classifier's prediction: integrated gradients and gradient × input.

Both differentiate one number, ``f`` = **the logit of the target class** (by default the predicted class), with
respect to the word embeddings of the input (``inputs_embeds``; the model still adds its position and token-type
embeddings itself), using torch autograd. The logit, not the probability, is used because softmax saturates: a
confident prediction has near-zero probability gradients although the evidence is strong. A token's score is the
sum over the embedding dimension of its per-dimension attribution.

* Integrated gradients (Sundararajan, Taly & Yan, 2017, "Axiomatic Attribution for Deep Networks",
  https://arxiv.org/abs/1703.01365): ``(x − x') · ∫₀¹ ∂f/∂x (x' + α (x − x')) dα``, the integral taken with the
  trapezoidal rule over ``steps`` intervals (``steps + 1`` gradient evaluations), halved until the scores add up to
  ``f(x) − f(x')`` within 5 % (the paper's check; a model with a sharp transition on the path needs more points).
  The baseline ``x'`` puts the
  [PAD] embedding at every text token and keeps the special tokens, so special tokens get 0. Completeness: the
  scores sum to ``f(x) − f(x')`` up to the integration error, which :attr:`Attribution.completeness_gap` reports.
* Gradient × input (Shrikumar et al., 2016, https://arxiv.org/abs/1605.01713): ``x · ∂f/∂x`` at the input, one
  gradient evaluation; every token, special ones included, gets a score, and there is no completeness.

Attributions answer "which input tokens moved this class's logit, relative to a [PAD] input", which is a different
question from where attention heads look.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import transformers

from kdemo.errors import KdemoError
from kdemo.explain.attention import require_torch_model
from kdemo.explain.attention_math import merge_scores
from kdemo.explain.tokens import TokenInfo, encode, model_inputs

METHODS = ("ig", "grad_x_input")
MAX_STEPS = 1000
#: Completeness gaps below this many logit units count as converged (float32 noise).
ABS_GAP = 1e-4


@dataclass(frozen=True, eq=False)
class Attribution:
    """Per-token attribution scores for one input. Unpacks as ``tokens, scores = attribution``.

    Attributes:
        info: Labels of the ``seq_len`` positions (tokens or, after :meth:`merge_words`, words).
        scores: Float64 array of shape ``(seq_len,)``, in logit units: positive scores raised the target logit.
        method: ``"ig"`` or ``"grad_x_input"``.
        target: The class id explained.
        label: The class name explained (or ``str(target)``).
        f_input: ``f(x)``, the target logit at the input.
        f_baseline: ``f(x')``, the target logit at the baseline (IG only; None for gradient × input).
        steps: Trapezoid intervals IG used (after refinement), or 1.
        merged: Whether positions are words (scores summed over each word's pieces).
    """

    info: TokenInfo
    scores: np.ndarray
    method: str
    target: int
    label: str
    f_input: float
    f_baseline: float | None
    steps: int
    merged: bool = False

    def __iter__(self):
        return iter((self.tokens, self.scores))

    @property
    def tokens(self) -> list[str]:
        return self.info.tokens

    @property
    def completeness_gap(self) -> float | None:
        """``sum(scores) − (f(x) − f(x'))`` in logit units (IG only; None otherwise)."""
        if self.f_baseline is None:
            return None
        return float(self.scores.sum() - (self.f_input - self.f_baseline))

    @property
    def relative_gap(self) -> float | None:
        """``|completeness_gap| / |f(x) − f(x')|`` (a fraction; IG only). Raise ``steps`` when it is large."""
        if self.f_baseline is None:
            return None
        return abs(self.completeness_gap) / max(abs(self.f_input - self.f_baseline), 1e-12)

    def merge_words(self) -> Attribution:
        """Word-level scores: the sum over each word's pieces (completeness is kept)."""
        if self.merged:
            return self
        return Attribution(
            self.info.merged(), merge_scores(self.scores, self.info.groups), self.method, self.target, self.label,
            self.f_input, self.f_baseline, self.steps, merged=True,
        )


@contextlib.contextmanager
def _eval_mode(model: torch.nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _logits(model, inputs: dict, embeds: torch.Tensor, position: int | None = None) -> torch.Tensor:
    """Logits ``(rows, num_classes)``; a token classifier's at the token ``position``."""
    rows = embeds.shape[0]
    extra = {k: v.expand(rows, -1) for k, v in inputs.items() if k != "input_ids"}
    logits = model(inputs_embeds=embeds, **extra).logits.float()
    return logits if position is None else logits[:, position]


def _gradients(model, inputs: dict, embeds: torch.Tensor, target: int,
               position: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(∂f/∂embeds, f)`` for a batch of embeddings of shape ``(rows, seq_len, hidden)``."""
    embeds = embeds.detach().requires_grad_(True)
    with torch.enable_grad():
        f = _logits(model, inputs, embeds, position)[:, target]
        (grad,) = torch.autograd.grad(f.sum(), embeds)
    return grad, f.detach()


class _Path:
    """The straight path ``x' + α (x − x')`` from the baseline to the input, and gradients along it."""

    def __init__(self, model, inputs: dict, x: torch.Tensor, x0: torch.Tensor, target: int, batch_size: int,
                 position: int | None = None):
        self.model, self.inputs, self.x, self.x0, self.target, self.batch_size = model, inputs, x, x0, target, batch_size
        self.position = position

    def gradient_sum(self, alphas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sum over ``alphas`` of ``∂f/∂x`` (float64, shape ``(seq_len, hidden)``) and ``f`` at each α."""
        total = torch.zeros(self.x.shape[1:], dtype=torch.float64, device=self.x.device)
        values = []
        for chunk in alphas.split(self.batch_size):
            points = self.x0 + chunk.to(self.x.device, torch.float32)[:, None, None] * (self.x - self.x0)
            grad, f = _gradients(self.model, self.inputs, points, self.target, self.position)
            total += grad.double().sum(0)
            values.append(f.double().cpu())
        return total, torch.cat(values) if values else torch.zeros(0, dtype=torch.float64)


def _check_args(text: str, method: str, steps: int, tolerance: float | None, max_steps: int) -> None:
    if not isinstance(text, str) or not text.strip():
        raise KdemoError(f"Expected a non-empty text to explain. Received: {text!r}.")
    if method not in METHODS:
        raise KdemoError(f"Expected method 'ig' or 'grad_x_input'. Received: method={method!r}.")
    if not isinstance(steps, (int, np.integer)) or not 1 <= steps <= MAX_STEPS:
        raise KdemoError(f"Expected steps as a whole number from 1 to {MAX_STEPS}. Received: steps={steps!r}.")
    if tolerance is not None and not 0 < tolerance < 1:
        raise KdemoError(f"Expected tolerance as a fraction between 0 and 1 (or None). Received: tolerance={tolerance!r}.")
    if not isinstance(max_steps, (int, np.integer)) or max_steps < steps:
        raise KdemoError(f"Expected max_steps as a whole number >= steps ({steps}). Received: max_steps={max_steps!r}.")


def explain(
    hf_model: transformers.PreTrainedModel,
    tokenizer: transformers.PreTrainedTokenizerBase,
    text: str,
    text_pair: str | None = None,
    *,
    method: str = "ig",
    steps: int = 50,
    tolerance: float | None = 0.05,
    max_steps: int = 800,
    target: int | None = None,
    class_names: Sequence[str] | None = None,
    maxlen: int = 512,
    batch_size: int = 16,
    token_index: int | None = None,
) -> Attribution:
    """Attribute the target class's logit to the input tokens.

    For a token classifier (logits ``(batch, seq_len, num_tags)``) ``f`` is the logit of the target tag at the
    position ``token_index``.

    Args:
        hf_model: A sequence classifier whose ``forward`` takes ``inputs_embeds`` (any device; fp32).
        tokenizer: Its tokenizer.
        text: The text (truncated, with ``text_pair``, to ``maxlen`` tokens).
        text_pair: Optional second text of a sentence pair.
        method: ``"ig"`` (integrated gradients) or ``"grad_x_input"``.
        steps: IG trapezoid intervals to start with (``steps + 1`` gradient evaluations), 1–1000; ignored by
            gradient × input.
        tolerance: IG completeness target, a fraction: while ``|sum(scores) − (f(x) − f(x'))|`` exceeds
            ``tolerance · |f(x) − f(x')|`` (and 1e-4 logit units), the intervals are halved (the earlier points are
            reused) up to ``max_steps``. Sundararajan et al. recommend exactly this check ("within 5 %"). None keeps
            ``steps`` fixed.
        max_steps: Most intervals the refinement may reach.
        target: Class id to explain; None explains the predicted class.
        class_names: Label names in id order, for :attr:`Attribution.label`.
        maxlen: Maximum tokens, special tokens included.
        batch_size: Interpolation points per forward/backward pass.
        token_index: Token classifiers only (required there): the position, special tokens counted, whose tag is
            explained.

    Returns:
        The scores, one per token, with ``f(x)`` and ``f(x')`` for the completeness check.

    Raises:
        KdemoError: If the text is empty, the method unknown, ``steps`` out of range or ``target`` not a class id.
    """
    _check_args(text, method, steps, tolerance, max_steps)
    require_torch_model(hf_model)
    enc, info = encode(tokenizer, text, text_pair, maxlen=maxlen)
    inputs = model_inputs(hf_model, enc)
    with _eval_mode(hf_model):
        with torch.no_grad():
            x = hf_model.get_input_embeddings()(inputs["input_ids"]).float()  # (1, seq_len, hidden)
            full = _logits(hf_model, inputs, x)
            if full.ndim == 3:  # a token classifier: one row of logits per token
                seq_len = full.shape[1]
                if token_index is None or not -seq_len <= int(token_index) < seq_len:
                    raise KdemoError(f"Expected token_index as a token position 0–{seq_len - 1} (special tokens "
                                     f"counted) for a token classifier. Received: token_index={token_index!r}.")
                token_index = int(token_index) % seq_len
                full = full[:, token_index]
            else:
                token_index = None
            logits = full[0]
        num_classes = logits.shape[-1]
        if target is None:
            target = int(logits.argmax())
        elif not 0 <= int(target) < num_classes:
            raise KdemoError(f"Expected target as a class id 0–{num_classes - 1}. Received: target={target!r}.")
        target = int(target)
        label = str(class_names[target]) if class_names is not None else str(target)
        if method == "grad_x_input":
            grad, f = _gradients(hf_model, inputs, x, target, token_index)
            scores = (x * grad)[0].sum(-1).double().cpu().numpy()
            return Attribution(info, scores, method, target, label, float(f[0]), None, 1)
        scores, f_baseline, n = _integrated_gradients(
            hf_model, inputs, info, x, target, pad_id=tokenizer.pad_token_id or 0, steps=steps, tolerance=tolerance,
            max_steps=max_steps, batch_size=batch_size, position=token_index,
        )
    return Attribution(info, scores, method, target, label, float(logits[target]), f_baseline, n)


def _integrated_gradients(
    model, inputs: dict, info: TokenInfo, x: torch.Tensor, target: int, *, pad_id: int, steps: int,
    tolerance: float | None, max_steps: int, batch_size: int, position: int | None = None,
) -> tuple[np.ndarray, float, int]:
    """IG scores of shape ``(seq_len,)``, ``f(x')``, and the number of trapezoid intervals used."""
    special = torch.as_tensor(info.special, device=x.device)
    baseline_ids = torch.where(special[None, :], inputs["input_ids"], torch.full_like(inputs["input_ids"], pad_id))
    with torch.no_grad():
        x0 = model.get_input_embeddings()(baseline_ids).float()
    path = _Path(model, inputs, x, x0, target, batch_size, position)
    ends, f_ends = path.gradient_sum(torch.tensor([0.0, 1.0], dtype=torch.float64))
    interior, _ = path.gradient_sum(torch.arange(1, steps, dtype=torch.float64) / steps)
    change = float(f_ends[1] - f_ends[0])
    n = steps
    while True:
        mean_grad = (0.5 * ends + interior) / n  # trapezoid rule over n intervals
        scores = ((x - x0)[0].double() * mean_grad).sum(-1)
        gap = abs(float(scores.sum()) - change)
        converged = tolerance is None or gap <= max(tolerance * abs(change), ABS_GAP)
        if converged or 2 * n > max_steps:
            break
        more, _ = path.gradient_sum((2 * torch.arange(n, dtype=torch.float64) + 1) / (2 * n))  # the new midpoints
        interior += more
        n *= 2
    return scores.cpu().numpy(), float(f_ends[0]), n
