"""The Predictor's export verbs: ONNX (kdemo's ``export_onnx`` and ktrain's ``export_model_to_onnx``) and the Hub."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from kdemo.hub.push import push_to_hub, validate_repo_id


class ExportMixin:
    """``export_onnx``, ``export_model_to_onnx`` and ``push_to_hub`` for :class:`kdemo.inference.predictor.Predictor`.

    Relies on the predictor's ``model``, ``tokenizer`` and ``save()``.
    """

    def export_onnx(self, path: str | os.PathLike, quantize: bool = False) -> Path:
        """Export the model to ONNX (see :func:`kdemo.inference.onnx.export_onnx`).

        Args:
            path: The ``.onnx`` file, or a saved predictor folder (then ``model.onnx`` is written inside it, and
                ``load_predictor(folder, backend="onnx")`` runs it).
            quantize: Dynamic int8 weight quantization.

        Returns:
            The written file.
        """
        from kdemo.inference.onnx import ONNX_FILE, export_onnx

        target = Path(path)
        if target.is_dir():
            target = target / ONNX_FILE
        return export_onnx(self.model, self.tokenizer, target, quantize=quantize)

    def export_model_to_onnx(self, fpath: str | os.PathLike, quantize: bool = False, target_opset: int | None = None,
                             verbose: int = 1) -> str:
        """ktrain's name of :meth:`export_onnx`.

        Args:
            fpath: The ``.onnx`` file (or a predictor folder).
            quantize: Dynamic int8 weight quantization.
            target_opset: Accepted for ktrain compatibility (kdemo's exporter picks the opset).
            verbose: 1 prints where the model was written.

        Returns:
            The path of the written file, as a string (ktrain returns the path).
        """
        path = self.export_onnx(fpath, quantize=quantize)
        if verbose:
            print(f"ONNX model written to {path}")
        return str(path)

    def push_to_hub(
        self, repo_id: str, *, token: str | None = None, private: bool = True, commit_message: str | None = None
    ) -> str:
        """Save this predictor to a temporary folder and push it, with a model card, to the Hugging Face Hub.

        See :func:`kdemo.hub.push.push_to_hub`, which pushes a folder that is already saved.

        Args:
            repo_id: ``user-or-org/name``.
            token: A token with write access; None uses ``HF_TOKEN`` or the cached login. Never stored.
            private: Create the repo as private (default).
            commit_message: Commit message.

        Returns:
            The URL of the commit.

        Raises:
            HubError: On a bad repo id or token, missing write access, rate limiting or no network.
        """
        repo_id = validate_repo_id(repo_id)
        with tempfile.TemporaryDirectory(prefix="kdemo-push-") as tmp:
            folder = self.save(Path(tmp) / repo_id.split("/")[-1])
            return push_to_hub(folder, repo_id, token=token, private=private, commit_message=commit_message)
