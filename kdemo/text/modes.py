"""ktrain's ``preprocess_mode``, ``max_features`` and ``ngram_range`` arguments of ``texts_from_*``.

ktrain (``ktrain/text/data.py``) has three modes: ``"standard"`` (a bag-of-words vocabulary for its fastText, logreg,
NBSVM and GRU models, sized by ``max_features`` and ``ngram_range``), ``"bert"`` (returns ``(x, y)`` arrays) and
``"distilbert"`` (returns datasets). kdemo covers the transformer path: ``"bert"`` and ``"distilbert"`` work as in
ktrain, on the checkpoint ``model_name`` (the embedded MiniLM, a BERT, by default), and ignore ``max_features`` and
``ngram_range`` exactly as ktrain does; ``"standard"`` raises an error that says so.
"""

from __future__ import annotations

from kdemo.data.bert_arrays import bert_arrays
from kdemo.data.dataset import TextDataset
from kdemo.errors import DataError

#: ktrain's transformer modes, accepted by kdemo.
TRANSFORMER_MODES = ("bert", "distilbert")
#: ktrain's non-transformer mode and its models, which kdemo does not build.
STANDARD_MODE = "standard"
NOT_COVERED_MESSAGE = (
    "kdemo covers ktrain's transformer path only. Use preprocess_mode='distilbert' (or 'bert', or leave it out) "
    "with a Hugging Face checkpoint (model_name=; the embedded all-MiniLM-L6-v2 by default) and "
    "preproc.get_classifier()/text.text_classifier('distilbert', trn, preproc=preproc)."
)


def check_preprocess_mode(preprocess_mode: str | None) -> str | None:
    """Validate ktrain's ``preprocess_mode``.

    Args:
        preprocess_mode: None (kdemo's default: transformer datasets), ``"distilbert"`` or ``"bert"``.

    Returns:
        The mode.

    Raises:
        DataError: For ``"standard"`` (ktrain's bag-of-words path, not covered) or an unknown mode.
    """
    if preprocess_mode is None or preprocess_mode in TRANSFORMER_MODES:
        return preprocess_mode
    if preprocess_mode == STANDARD_MODE:
        raise DataError(f"Expected preprocess_mode 'distilbert' or 'bert'. Received: preprocess_mode='standard' "
                        f"(ktrain's bag-of-words path for fasttext/logreg/nbsvm/bigru). {NOT_COVERED_MESSAGE}")
    raise DataError(f"Expected preprocess_mode to be one of {TRANSFORMER_MODES}. Received: {preprocess_mode!r}.")


def ktrain_result(trn: TextDataset, val: TextDataset | None, preproc, preprocess_mode: str | None):
    """``(trn, val, preproc)`` in the form ktrain returns for ``preprocess_mode``: ``(x, y)`` pairs for ``"bert"``
    (``x = [token_ids, segment_ids]`` padded to ``preproc.maxlen``, see :func:`kdemo.data.bert_arrays.bert_arrays`;
    the preprocessor then answers ``preprocess`` and ``undo`` as ktrain's ``BERTPreprocessor``), datasets
    otherwise."""
    if preprocess_mode == "bert":
        preproc.mode = "bert"
        return (bert_arrays(trn, preproc.maxlen), None if val is None else bert_arrays(val, preproc.maxlen), preproc)
    return trn, val, preproc
