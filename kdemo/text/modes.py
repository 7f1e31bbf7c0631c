"""ktrain's ``preprocess_mode``, ``max_features`` and ``ngram_range`` arguments of ``texts_from_*``.

ktrain (``ktrain/text/data.py``) has three modes, and kdemo all three: ``"standard"`` (word ids over ktrain's own
vocabulary, sized by ``max_features`` and ``ngram_range``, for its classic models: :mod:`kdemo.text.classic`),
``"bert"`` (``(x, y)`` arrays of the checkpoint ``model_name``, the embedded MiniLM, a BERT, by default) and
``"distilbert"`` (datasets). The transformer modes ignore ``max_features`` and ``ngram_range``, as ktrain does.
"""

from __future__ import annotations

from kdemo.data.bert_arrays import bert_arrays
from kdemo.data.dataset import TextDataset
from kdemo.errors import DataError

#: ktrain's transformer modes, accepted by kdemo.
TRANSFORMER_MODES = ("bert", "distilbert")
#: ktrain's mode for its classic models (:mod:`kdemo.text.classic`).
STANDARD_MODE = "standard"


def check_preprocess_mode(preprocess_mode: str | None) -> str | None:
    """Validate ktrain's ``preprocess_mode``.

    Args:
        preprocess_mode: None (kdemo's default: transformer datasets), ``"distilbert"``, ``"bert"`` or
            ``"standard"`` (ktrain's word ids for its classic models, :mod:`kdemo.text.classic`).

    Returns:
        The mode.

    Raises:
        DataError: For an unknown mode.
    """
    if preprocess_mode is None or preprocess_mode in (*TRANSFORMER_MODES, STANDARD_MODE):
        return preprocess_mode
    raise DataError(f"Expected preprocess_mode to be one of {(*TRANSFORMER_MODES, STANDARD_MODE)}. Received: "
                    f"{preprocess_mode!r}.")


def ktrain_result(trn: TextDataset, val: TextDataset | None, preproc, preprocess_mode: str | None):
    """``(trn, val, preproc)`` in the form ktrain returns for ``preprocess_mode``: ``(x, y)`` pairs for ``"bert"``
    (``x = [token_ids, segment_ids]`` padded to ``preproc.maxlen``, see :func:`kdemo.data.bert_arrays.bert_arrays`;
    the preprocessor then answers ``preprocess`` and ``undo`` as ktrain's ``BERTPreprocessor``), datasets
    otherwise."""
    if preprocess_mode == "bert":
        preproc.mode = "bert"
        return (bert_arrays(trn, preproc.maxlen), None if val is None else bert_arrays(val, preproc.maxlen), preproc)
    return trn, val, preproc
