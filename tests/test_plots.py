"""The learner's ktrain plot verbs draw on pyplot, as ktrain's do: ``learner.plot("lr")`` (and ``lr_plot``) followed by
``plt.savefig`` writes the figure in a plain script (Agg backend); ``return_fig=True`` stays out of pyplot."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # a plain script without a display

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import sentiment_frame  # noqa: E402

from kdemo import get_learner, texts_from_df  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def trained(tiny_bert_dir):
    trn, val, preproc = texts_from_df(sentiment_frame(80), "text", "label", model_name=str(tiny_bert_dir), val_pct=0.2,
                                      maxlen=16, verbose=0)
    learner = get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=8)
    learner.lr_find(num_steps=16, max_epochs=2, verbose=0)
    learner.fit_onecycle(1e-3, 1, verbose=0)
    return learner


def _saved_pixels(path) -> np.ndarray:
    plt.savefig(path)
    assert path.stat().st_size > 5000
    return mpimg.imread(path)


def test_plot_lr_then_savefig_writes_the_lr_curve(trained, tmp_path):
    plt.close("all")
    assert trained.plot("lr") is None
    ax = plt.gcf().axes[0]  # the learner's figure is the current one
    np.testing.assert_allclose(ax.lines[0].get_ydata(), trained.history.history["lr"])
    assert max(ax.lines[0].get_ydata()) == pytest.approx(1e-3)
    pixels = _saved_pixels(tmp_path / "lr.png")
    assert pixels[..., :3].std() > 0.05  # not a blank canvas: the curve, axes and labels are drawn
    plt.close("all")


def test_lr_plot_and_loss_plot_draw_on_new_pyplot_figures(trained, tmp_path):
    plt.close("all")
    trained.lr_plot()
    assert plt.gcf().axes[0].get_xscale() == "log"
    _saved_pixels(tmp_path / "lr_find.png")
    trained.plot("loss")
    assert len(plt.get_fignums()) == 2  # one new figure per call, as plt.figure() in ktrain
    _saved_pixels(tmp_path / "loss.png")
    plt.close("all")


def test_return_fig_builds_a_figure_outside_pyplot(trained):
    plt.close("all")
    fig = trained.plot("momentum", return_fig=True)
    assert fig.axes[0].lines and plt.get_fignums() == []
