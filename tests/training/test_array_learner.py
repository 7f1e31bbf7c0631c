"""Any compiled Keras model trains on NumPy arrays with the Learner's verbs (ktrain's ArrayLearner)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import kdemo as ktrain
from kdemo.training.array_learner import ArrayLearner

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _classification(n=160, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = np.eye(2, dtype="float32")[(x[:, 0] + x[:, 1] > 0).astype(int)]
    return x, y


def test_a_users_keras_classifier_runs_every_verb(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = _classification()
    xv, yv = _classification(60, seed=1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    learner = ktrain.get_learner(model, train_data=(x, y), val_data=(xv, yv), batch_size=16)
    assert isinstance(learner, ArrayLearner) and learner.model is model
    learner.lr_find(num_steps=20, max_epochs=3, verbose=0)
    assert len(learner.lr_finder.lrs) >= 10
    hist = learner.fit_onecycle(0.05, 3, verbose=0, checkpoint_folder=str(tmp_path / "ck"))
    assert max(hist.history["lr"]) == pytest.approx(0.05) and max(hist.history["momentum"]) == pytest.approx(0.95)
    assert (tmp_path / "ck" / "epoch-3" / "weights.safetensors").is_file()  # written in the background
    hist = learner.autofit(0.05, 2, verbose=0)
    assert max(hist.history["val_accuracy"]) >= 0.85
    cm = learner.validate(print_report=False, save_path=None)
    assert cm.shape == (2, 2) and np.trace(cm) >= 0.85 * len(xv)
    assert learner.predict().shape == (60, 2)
    assert all(t[2] != t[3] for t in learner.top_losses(n=3))
    learner.save_model(tmp_path / "m")
    before = learner.predict()
    learner.reset_weights(verbose=0)
    learner.load_model(tmp_path / "m")
    np.testing.assert_allclose(learner.predict(), before, atol=1e-6)


def test_regression_targets_and_an_uncompiled_model():
    keras.utils.set_random_seed(0)
    x = np.linspace(-1, 1, 64, dtype="float32").reshape(-1, 1)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    with pytest.raises(ktrain.TrainingError, match="compiled"):
        ktrain.get_learner(model, train_data=(x, 3 * x[:, 0]))
    model.compile(loss="mse", optimizer="adam", metrics=["mae"])
    learner = ktrain.get_learner(model, train_data=(x, 3 * x[:, 0]), val_data=(x, 3 * x[:, 0]), batch_size=8)
    learner.fit_onecycle(0.1, 20, verbose=0)
    (name, mae), = learner.validate()
    assert name == "mae" and mae < 0.2 and learner.task == "regression"
