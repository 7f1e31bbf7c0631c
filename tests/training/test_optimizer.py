"""FusedAdamW: a Keras optimizer whose step is torch's fused AdamW kernel."""

from __future__ import annotations

import copy

import keras
import numpy as np
import pytest
import torch

from kdemo.training.optimizer import FusedAdamW

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SHAPES = [(4, 3), (3,), (2, 2, 2), (5,)]


def _variables(seed: int = 0) -> list[keras.Variable]:
    rng = np.random.default_rng(seed)
    return [keras.Variable(rng.normal(size=s).astype("float32")) for s in SHAPES]


def _reference(params, lr, *, weight_decay=0.01, betas=(0.9, 0.999), eps=1e-8) -> torch.optim.AdamW:
    """torch's AdamW(fused=True) with decay on >= 2-D parameters only, as FusedAdamW promises."""
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, fused=True)


def _grads(step: int, scale: float = 1.0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(100 + step)
    return [torch.randn(s, generator=gen) * scale for s in SHAPES]


def _step(opt: FusedAdamW, variables, grads) -> None:
    for v, g in zip(variables, grads):
        v.value.grad = g.clone()
    opt.apply([v.value.grad for v in variables], variables)


def _ref_step(ref: torch.optim.AdamW, params, grads) -> None:
    for p, g in zip(params, grads):
        p.grad = g.clone()
    ref.step()


def _ref_params(variables) -> list[torch.nn.Parameter]:
    return [torch.nn.Parameter(v.value.detach().clone()) for v in variables]


def _assert_same(variables, params, atol=1e-7):
    for v, p in zip(variables, params):
        np.testing.assert_allclose(v.numpy(), p.detach().numpy(), rtol=0, atol=atol)


# ---------------------------------------------------------------------------------------------------- equivalence
def test_matches_torch_fused_adamw_on_keras_variables():
    variables = _variables()
    params = _ref_params(variables)
    opt = FusedAdamW(learning_rate=1e-2, beta_1=0.8, beta_2=0.99, epsilon=1e-6, weight_decay=0.1, global_clipnorm=None)
    ref = _reference(params, 1e-2, weight_decay=0.1, betas=(0.8, 0.99), eps=1e-6)
    start = [v.numpy().copy() for v in variables]
    for step in range(5):
        grads = _grads(step)
        _step(opt, variables, grads)
        _ref_step(ref, params, grads)
        _assert_same(variables, params)
    assert all(not np.allclose(v.numpy(), s) for v, s in zip(variables, start))


class _TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(4, 8)
        self.norm = torch.nn.LayerNorm(8)
        self.fc2 = torch.nn.Linear(8, 1)

    def forward(self, x):
        return self.fc2(torch.relu(self.norm(self.fc1(x))))


class _KerasNet(keras.Model):
    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net  # auto-wrapped in TorchModuleWrapper: Keras trains these very parameters

    def call(self, x, training=False):
        return self.net(x)


def test_matches_torch_fused_adamw_through_keras_training():
    torch.manual_seed(0)
    net = _TorchNet()
    twin = copy.deepcopy(net)
    model = _KerasNet(net)
    model.compile(optimizer=FusedAdamW(learning_rate=3e-3, weight_decay=0.05, global_clipnorm=None), loss="mse")
    ref = _reference(list(twin.parameters()), 3e-3, weight_decay=0.05)
    rng = np.random.default_rng(0)
    for _ in range(4):
        x = rng.normal(size=(16, 4)).astype("float32")
        y = rng.normal(size=(16, 1)).astype("float32")
        model.train_on_batch(x, y)
        ref.zero_grad()
        loss = torch.mean((twin(torch.from_numpy(x)) - torch.from_numpy(y)) ** 2)
        loss.backward()
        ref.step()
    for p, q in zip(net.parameters(), twin.parameters()):
        torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-5, atol=1e-6)
    assert int(model.optimizer.iterations.numpy()) == 4


def test_weight_decay_only_on_matrices():
    variables = _variables()
    start = [v.numpy().copy() for v in variables]
    opt = FusedAdamW(learning_rate=0.1, weight_decay=0.5, global_clipnorm=None)
    # Zero gradients: Adam's update is exactly 0, so only the decoupled weight decay can move a parameter.
    _step(opt, variables, [torch.zeros(s) for s in SHAPES])
    for v, s, shape in zip(variables, start, SHAPES):
        if len(shape) >= 2:
            np.testing.assert_allclose(v.numpy(), s * (1 - 0.1 * 0.5), rtol=1e-6)
        else:
            np.testing.assert_array_equal(v.numpy(), s)


# ---------------------------------------------------------------------------------------------------- settable state
def test_learning_rate_set_between_steps_changes_the_step():
    variables = _variables()
    params = _ref_params(variables)
    opt = FusedAdamW(learning_rate=1e-1, weight_decay=0.0, global_clipnorm=None)
    ref = _reference(params, 1e-1, weight_decay=0.0)
    _step(opt, variables, _grads(0))
    _ref_step(ref, params, _grads(0))
    before = [v.numpy().copy() for v in variables]
    opt.learning_rate = 1e-3
    for group in ref.param_groups:
        group["lr"] = 1e-3
    _step(opt, variables, _grads(1))
    _ref_step(ref, params, _grads(1))
    _assert_same(variables, params)
    moved = max(np.abs(v.numpy() - b).max() for v, b in zip(variables, before))
    assert 1e-4 < moved < 5e-3  # an Adam step is about lr in size: 1e-3 now, not 1e-1


def test_zero_learning_rate_leaves_weights_unchanged():
    variables = _variables()
    opt = FusedAdamW(learning_rate=1e-2, weight_decay=0.1, global_clipnorm=None)
    _step(opt, variables, _grads(0))
    before = [v.numpy().copy() for v in variables]
    opt.learning_rate = 0.0
    _step(opt, variables, _grads(1))
    for v, b in zip(variables, before):
        np.testing.assert_array_equal(v.numpy(), b)


def test_learning_rate_schedule_is_read_each_step():
    class FirstStepOnly(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            return keras.ops.where(step < 1, 0.05, 0.0)

    variables = _variables()
    opt = FusedAdamW(learning_rate=FirstStepOnly(), weight_decay=0.0, global_clipnorm=None)
    start = [v.numpy().copy() for v in variables]
    _step(opt, variables, _grads(0))
    after_first = [v.numpy().copy() for v in variables]
    assert all(np.abs(a - s).max() > 1e-2 for a, s in zip(after_first, start))
    _step(opt, variables, _grads(1))
    for v, a in zip(variables, after_first):
        np.testing.assert_array_equal(v.numpy(), a)


def test_beta_1_set_between_steps_is_used():
    variables = _variables()
    params = _ref_params(variables)
    opt = FusedAdamW(learning_rate=1e-2, global_clipnorm=None)
    ref = _reference(params, 1e-2)
    for step, beta in enumerate([0.95, 0.85, 0.5]):
        opt.beta_1 = beta
        for group in ref.param_groups:
            group["betas"] = (beta, 0.999)
        _step(opt, variables, _grads(step))
        _ref_step(ref, params, _grads(step))
    _assert_same(variables, params)


def test_iterations_increment():
    variables = _variables()
    opt = FusedAdamW(learning_rate=1e-3)
    for step in range(3):
        _step(opt, variables, _grads(step))
        assert int(opt.iterations.numpy()) == step + 1


def test_global_clipnorm_clips_the_global_gradient_norm():
    variables = _variables()
    params = _ref_params(variables)
    # A large epsilon makes Adam's first step depend on the gradient scale, so clipping is visible in the weights.
    opt = FusedAdamW(learning_rate=1e-1, epsilon=1.0, weight_decay=0.0, global_clipnorm=1.0)
    grads = _grads(0, scale=10.0)
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item()
    assert norm > 10
    _step(opt, variables, grads)
    clipped_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(v.value.grad) for v in variables]))
    assert clipped_norm.item() == pytest.approx(1.0, rel=1e-4)

    ref = _reference(params, 1e-1, weight_decay=0.0, eps=1.0)
    _ref_step(ref, params, [g / norm for g in grads])
    _assert_same(variables, params, atol=1e-6)

    unclipped = _ref_params(_variables())
    ref = _reference(unclipped, 1e-1, weight_decay=0.0, eps=1.0)
    _ref_step(ref, unclipped, grads)
    assert max(np.abs(v.numpy() - p.detach().numpy()).max() for v, p in zip(variables, unclipped)) > 1e-3


def test_small_gradients_are_not_clipped():
    variables = _variables()
    params = _ref_params(variables)
    opt = FusedAdamW(learning_rate=1e-1, epsilon=1.0, weight_decay=0.0, global_clipnorm=100.0)
    grads = _grads(0)
    _step(opt, variables, grads)
    ref = _reference(params, 1e-1, weight_decay=0.0, eps=1.0)
    _ref_step(ref, params, grads)
    _assert_same(variables, params)


def test_reset_state_forgets_moments():
    variables = _variables()
    opt = FusedAdamW(learning_rate=1e-2, global_clipnorm=None)
    for step in range(3):
        _step(opt, variables, _grads(step))
    opt.reset_state()
    params = _ref_params(variables)
    ref = _reference(params, 1e-2)  # a fresh optimizer: its first step
    _step(opt, variables, _grads(7))
    _ref_step(ref, params, _grads(7))
    _assert_same(variables, params)


def test_rebuilds_when_the_trainable_variables_change():
    first, second = _variables(0), _variables(1)  # same shapes, other variables (e.g. after freeze/unfreeze)
    opt = FusedAdamW(learning_rate=1e-2, global_clipnorm=None)
    _step(opt, first, _grads(0))
    first_after = [v.numpy().copy() for v in first]
    params = _ref_params(second)
    ref = _reference(params, 1e-2)
    _step(opt, second, _grads(1))
    _ref_step(ref, params, _grads(1))
    _assert_same(second, params)
    for v, a in zip(first, first_after):
        np.testing.assert_array_equal(v.numpy(), a)
    # Fewer variables (frozen layers) also work.
    _step(opt, second[:2], _grads(2)[:2])


def test_config_round_trip():
    opt = FusedAdamW(learning_rate=2e-4, beta_1=0.8, beta_2=0.98, epsilon=1e-7, weight_decay=0.02, global_clipnorm=0.5,
                     gradient_accumulation_steps=3)
    config = opt.get_config()
    assert config["weight_decay"] == 0.02 and config["global_clipnorm"] == 0.5 and config["beta_1"] == 0.8
    assert config["clipnorm"] is None and config["gradient_accumulation_steps"] == 3
    clone = FusedAdamW.from_config(config)
    assert clone.beta_2 == 0.98 and clone.epsilon == 1e-7
    assert clone.weight_decay == 0.02 and clone.global_clipnorm == 0.5 and clone.gradient_accumulation_steps == 3
    assert float(clone.learning_rate.numpy()) == pytest.approx(2e-4)


# ---------------------------------------------------------------------------------------------------- Keras' contract
def test_weight_decay_reads_and_sets_the_real_value():
    variables = _variables()
    opt = FusedAdamW(learning_rate=0.1, weight_decay=0.5, global_clipnorm=None)
    assert opt.weight_decay == 0.5 and opt.get_config()["weight_decay"] == 0.5
    start = [v.numpy().copy() for v in variables]
    _step(opt, variables, [torch.zeros(s) for s in SHAPES])
    opt.weight_decay = 0.2  # settable between steps, like a Keras optimizer's attribute
    _step(opt, variables, [torch.zeros(s) for s in SHAPES])
    matrix = start[0] * (1 - 0.1 * 0.5) * (1 - 0.1 * 0.2)
    np.testing.assert_allclose(variables[0].numpy(), matrix, rtol=1e-6)
    opt.weight_decay = None  # Keras' "no decay"
    before = variables[0].numpy().copy()
    _step(opt, variables, [torch.zeros(s) for s in SHAPES])
    np.testing.assert_array_equal(variables[0].numpy(), before)


def test_global_clipnorm_equals_torch_clip_grad_norm():
    variables = _variables()
    params = _ref_params(variables)
    opt = FusedAdamW(learning_rate=1e-1, epsilon=1.0, weight_decay=0.01, global_clipnorm=0.7)
    ref = _reference(params, 1e-1, eps=1.0)
    for step in range(3):
        grads = _grads(step, scale=5.0)
        _step(opt, variables, grads)
        for p, g in zip(params, grads):
            p.grad = g.clone()
        torch.nn.utils.clip_grad_norm_(params, 0.7)
        ref.step()
        _assert_same(variables, params, atol=1e-6)


def test_clipnorm_clips_each_variable_as_keras_does():
    variables = _variables()
    params = _ref_params(variables)
    opt = FusedAdamW(learning_rate=1e-1, epsilon=1.0, weight_decay=0.0, clipnorm=0.5)
    assert opt.global_clipnorm is None  # the chosen clip replaces the default global one
    grads = _grads(0, scale=3.0)
    _step(opt, variables, grads)
    for v in variables:  # Keras' _clip_by_norm: g * clipnorm / max(||g||, clipnorm)
        assert torch.linalg.vector_norm(v.value.grad).item() == pytest.approx(0.5, rel=1e-5)
    ref = _reference(params, 1e-1, weight_decay=0.0, eps=1.0)
    _ref_step(ref, params, [g * 0.5 / max(torch.linalg.vector_norm(g).item(), 0.5) for g in grads])
    _assert_same(variables, params, atol=1e-6)


def test_clipvalue_clips_each_element():
    variables = _variables()
    params = _ref_params(variables)
    opt = FusedAdamW(learning_rate=1e-1, epsilon=1.0, weight_decay=0.0, clipvalue=0.3)
    grads = _grads(0)
    _step(opt, variables, grads)
    ref = _reference(params, 1e-1, weight_decay=0.0, eps=1.0)
    _ref_step(ref, params, [g.clamp(-0.3, 0.3) for g in grads])
    _assert_same(variables, params, atol=1e-6)


def test_two_clips_are_refused_as_in_keras():
    with pytest.raises(ValueError, match="Only one of `clipnorm`, `clipvalue` and `global_clipnorm`"):
        FusedAdamW(clipnorm=1.0, global_clipnorm=2.0)
    with pytest.raises(ValueError, match="use_ema"):
        FusedAdamW(use_ema=True)


def _named_variables() -> list[keras.Variable]:
    rng = np.random.default_rng(0)
    specs = [("dense_kernel", (4, 3)), ("dense_bias", (3,)), ("norm_gamma", (3,)), ("LayerNorm_weight", (3,))]
    return [keras.Variable(rng.normal(size=s).astype("float32"), name=n) for n, s in specs]


def test_exclude_from_weight_decay_by_name_matches_torch_param_groups():
    variables = _named_variables()
    params = _ref_params(variables)
    opt = FusedAdamW(learning_rate=1e-2, weight_decay=0.3, global_clipnorm=None)
    opt.exclude_from_weight_decay(var_names=["bias", "LayerNorm"])
    # Keras' rule: everything else is decayed, including the 1-D `norm_gamma` the default would have spared.
    ref = torch.optim.AdamW([{"params": [params[0], params[2]], "weight_decay": 0.3},
                             {"params": [params[1], params[3]], "weight_decay": 0.0}], lr=1e-2, fused=True)
    shapes = [tuple(v.shape) for v in variables]
    for step in range(3):
        gen = torch.Generator().manual_seed(step)
        grads = [torch.randn(s, generator=gen) for s in shapes]
        _step(opt, variables, grads)
        _ref_step(ref, params, grads)
    _assert_same(variables, params)


def test_exclude_from_weight_decay_by_variable_and_only_before_build():
    variables = _named_variables()
    opt = FusedAdamW(learning_rate=0.1, weight_decay=0.5, global_clipnorm=None)
    opt.exclude_from_weight_decay(var_list=[variables[0]])
    start = [v.numpy().copy() for v in variables]
    _step(opt, variables, [torch.zeros(tuple(v.shape)) for v in variables])
    np.testing.assert_array_equal(variables[0].numpy(), start[0])  # excluded
    for v, s in zip(variables[1:], start[1:]):
        np.testing.assert_allclose(v.numpy(), s * (1 - 0.1 * 0.5), rtol=1e-6)  # all others, 1-D included
    with pytest.raises(ValueError, match="before the optimizer is built"):
        opt.exclude_from_weight_decay(var_names=["bias"])


def test_gradient_accumulation_is_the_mean_of_the_group_as_in_keras():
    variables = _variables()
    params = _ref_params(variables)
    opt = FusedAdamW(learning_rate=1e-2, weight_decay=0.1, global_clipnorm=1.0, gradient_accumulation_steps=3)
    ref = _reference(params, 1e-2, weight_decay=0.1)
    start = [v.numpy().copy() for v in variables]
    groups = [[_grads(3 * k + i, scale=2.0) for i in range(3)] for k in range(2)]
    for k, group in enumerate(groups):
        for i, grads in enumerate(group):
            _step(opt, variables, grads)
            # Keras: `_iterations` counts batches, `iterations` counts updates.
            assert int(opt._iterations.numpy()) == 3 * k + i + 1
            assert int(opt.iterations.numpy()) == (3 * k + i + 1) // 3
            if k == 0 and i < 2:
                for v, s in zip(variables, start):
                    np.testing.assert_array_equal(v.numpy(), s)  # no update before the group is complete
        mean = [sum(g[j] for g in group) / 3 for j in range(len(SHAPES))]
        for p, g in zip(params, mean):
            p.grad = g
        torch.nn.utils.clip_grad_norm_(params, 1.0)  # clipping acts on the averaged gradient
        ref.step()
        _assert_same(variables, params, atol=1e-6)


def test_gradient_accumulation_steps_must_be_at_least_two():
    with pytest.raises(ValueError, match="must be an integer >= 2"):
        FusedAdamW(gradient_accumulation_steps=1)


def test_schedule_sees_every_batch_with_accumulation():
    """Keras: "Learning rate schedules will look at the 'real' iterations value" (batches, not updates)."""
    seen: list[int] = []

    class Record(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            seen.append(int(keras.ops.convert_to_numpy(step)))
            return 1e-3

    variables = _variables()
    opt = FusedAdamW(learning_rate=Record(), gradient_accumulation_steps=2)
    for step in range(4):
        _step(opt, variables, _grads(step))
    assert seen == [1, 3]  # read at each update, at the batch count before the increment


def test_hf_classifier_variables_carry_hf_names_for_exclusion(tiny_bert_dir):
    from kdemo.modeling.classifier import HFClassifier, load_sequence_classifier

    model = HFClassifier(load_sequence_classifier(str(tiny_bert_dir), ["neg", "pos"]))
    hf_names = [n.replace(".", "_") for n, _ in model.hf_model.named_parameters()]
    assert [v.name for v in model.trainable_weights] == hf_names
    assert all(v.value is p for v, p in zip(model.trainable_weights, model.hf_model.parameters()))
    opt = FusedAdamW(learning_rate=1e-3)
    opt.exclude_from_weight_decay(var_names=["bias", "LayerNorm"])
    opt.build(model.trainable_weights)
    decayed = {id(p) for g in opt._torch_opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    # For BERT, Keras' name rule and the matrices-only default pick the same parameters.
    expected = {id(p) for n, p in model.hf_model.named_parameters() if not ("bias" in n or "LayerNorm" in n)}
    assert decayed == expected == {id(p) for p in model.hf_model.parameters() if p.ndim >= 2}
