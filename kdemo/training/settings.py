"""The Learner's layer and optimizer settings (ktrain's ``freeze``/``unfreeze``/``set_lr``/``set_weight_decay``/
``get_weight_decay``/``print_layers``) and its ``plot`` of the last fit."""

from __future__ import annotations

from kdemo.errors import TrainingError
from kdemo.modeling import freezing as layers


class SettingsMixin:
    """Layer, optimizer-setting and plot methods of :class:`kdemo.training.learner.Learner`.

    Relies on the learner's ``model``, ``weight_decay``, ``history`` and ``step_losses``.
    """

    def freeze(self, freeze_range: int | None = None) -> int:
        """Freeze the embeddings and the first ``freeze_range`` transformer blocks (None: the whole encoder).

        Returns:
            Number of parameter tensors frozen. The classification head always stays trainable.
        """
        return layers.freeze(self.model, freeze_range)

    def unfreeze(self, exclude_range: int | None = None) -> None:
        """Make all weights trainable again, except the embeddings and the first ``exclude_range`` transformer
        blocks when it is given (ktrain's ``unfreeze(exclude_range=)``, counted in blocks rather than Keras layers)."""
        layers.unfreeze(self.model)
        if exclude_range:
            layers.freeze(self.model, int(exclude_range))

    def set_lr(self, lr: float) -> None:
        """Set the compiled optimizer's learning rate, per optimizer step (ktrain's ``set_lr``). The fit methods
        set their own rate (their ``lr`` argument and schedule)."""
        self.model.optimizer.learning_rate = float(lr)

    def set_weight_decay(self, wd: float = 0.01) -> None:
        """Set AdamW's decoupled weight decay (applied to matrices, not biases or LayerNorm) for later fits."""
        if not 0 <= wd < 1:
            raise TrainingError(f"Expected weight decay in [0, 1). Received: wd={wd}.")
        self.weight_decay = float(wd)

    def get_weight_decay(self) -> float | None:
        """The weight decay later fits use; None until :meth:`set_weight_decay` (plain Adam, as in ktrain)."""
        return self.weight_decay

    def print_layers(self, show_wd: bool = False):
        """Print (and return) the parameter table: name, shape, parameter count, trainable."""
        table = layers.layer_table(self.model)
        if show_wd:
            table["weight_decay"] = [(self.weight_decay or 0.0) if len(s) >= 2 else 0.0 for s in table["shape"]]
        print(table.to_string(index=False))
        return table

    def plot(self, plot_type: str = "loss", return_fig: bool = False):
        """Plot a quantity of the last fit (ktrain's ``plot``) on a new pyplot figure, as ktrain does: a notebook
        displays it, and in a script ``plt.savefig(path)`` right after saves it.

        Args:
            plot_type: ``"loss"`` (per step, with validation loss per epoch), ``"lr"`` or ``"momentum"`` (per
                iteration, as ktrain draws them), or any other history key (per epoch).
            return_fig: Return the matplotlib Figure instead of displaying it.

        Returns:
            The figure when ``return_fig`` is True, else None.

        Raises:
            TrainingError: If nothing has been trained or the key is unknown.
        """
        from kdemo.plots import history_figure, loss_curve_figure, schedule_figure, show_figure

        if self.history is None:
            raise TrainingError("Expected a training history. Received: none - did you train the model yet? Train first "
                                "(e.g. fit_onecycle), then plot.")
        hist = self.history.history
        if plot_type == "loss":
            steps_per_epoch = max(len(self.step_losses) // max(len(hist.get("loss", [])), 1), 1)
            val = [((i + 1) * steps_per_epoch, v) for i, v in enumerate(hist.get("val_loss", []))]
            fig = loss_curve_figure(self.step_losses, None, val, pyplot=not return_fig)
        elif plot_type in ("lr", "momentum") and hist.get(plot_type):
            fig = schedule_figure(hist[plot_type], plot_type, pyplot=not return_fig)
        elif plot_type in hist and hist[plot_type] and plot_type != "iterations":
            fig = history_figure(hist, plot_type, pyplot=not return_fig)
        else:
            keys = sorted(k for k, v in hist.items() if v and k != "iterations")
            raise TrainingError(f"Expected plot_type 'loss' or one of {keys}. Received: {plot_type!r}.")
        return show_figure(fig, return_fig)
