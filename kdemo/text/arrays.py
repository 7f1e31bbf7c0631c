"""ktrain's ``texts_from_array``: training data from Python lists or arrays of texts and labels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import train_test_split

from kdemo.data.labels import sorted_class_names
from kdemo.errors import DataError
from kdemo.tasks import REGRESSION, SINGLE_LABEL, infer_task
from kdemo.text.modes import check_preprocess_mode, ktrain_result


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _labels(y, class_names: list[str]):
    """``(labels, class_names, task)`` with ktrain's rules (``ktrain/text/data.py``, ``ktrain/utils.py``)."""
    if isinstance(y, np.ndarray) and y.ndim == 2:  # one-hot or multi-hot rows
        return y, class_names or [str(i) for i in range(y.shape[1])], infer_task(y)
    items = list(y)
    if items and all(_is_number(v) for v in items):
        if not class_names:  # ktrain: numeric targets without class names are regression
            return np.asarray(items, dtype=np.float64), [], REGRESSION
        ints = [int(v) for v in items]
        if any(i != v or not 0 <= i < len(class_names) for i, v in zip(ints, items)):
            raise DataError(f"Expected integer class ids between 0 and {len(class_names) - 1} for class_names "
                            f"{class_names}. Received: {sorted(set(items))[:10]}.")
        return [class_names[i] for i in ints], class_names, SINGLE_LABEL
    task = infer_task(items)
    if task == SINGLE_LABEL and not class_names:
        class_names = sorted_class_names(items)
    return items, class_names, task


def texts_from_array(
    x_train: Sequence,
    y_train: Sequence,
    x_test: Sequence | None = None,
    y_test: Sequence | None = None,
    class_names: Sequence[str] | None = None,
    max_features: int | None = None,
    maxlen: int | None = None,
    val_pct: float = 0.1,
    ngram_range: int | None = None,
    preprocess_mode: str | None = None,
    lang: str | None = None,
    random_state: int | None = None,
    verbose: int = 1,
    *,
    model_name: str | None = None,
):
    """Prepare training and validation data from arrays (ktrain's ``texts_from_array``).

    Labels follow ktrain: strings are class names (sorted, unless ``class_names`` gives the order); integers are
    class ids into ``class_names``; numbers without ``class_names`` are regression targets (floats and
    integers alike: pass ``class_names`` for classification); a 2-D 0/1 array is one-hot (single-label) unless a
    row holds more than one 1 (multi-label); lists of labels per row are multi-label.

    Args:
        x_train: Training texts (or ``(text_a, text_b)`` pairs).
        y_train: Training labels, see above.
        x_test: Validation texts; when None, ``val_pct`` of the training rows are split off.
        y_test: Validation labels.
        class_names: Label names in id order.
        max_features: ktrain's bag-of-words size; ignored for transformer modes (as in ktrain).
        maxlen: Maximum tokens per text (special tokens included); None covers 95 % of the training texts.
        val_pct: Fraction 0–1 held out for validation when ``x_test`` is None.
        ngram_range: ktrain's n-gram size; ignored for transformer modes.
        preprocess_mode: None or ``"distilbert"`` (datasets) or ``"bert"`` (``(x, y)`` arrays); see
            :mod:`kdemo.text.modes`.
        lang: Ignored (the tokenizer decides).
        random_state: Seed of the split.
        verbose: 1 prints the task and a summary.
        model_name: Hub id or local folder; None is the embedded all-MiniLM-L6-v2.

    Returns:
        ``(trn, val, preproc)`` as :func:`kdemo.text.loaders.texts_from_df`.

    Raises:
        DataError: On mismatched lengths, labels that do not fit ``class_names``, or ``preprocess_mode="standard"``.
    """
    from kdemo.text.loaders import suggest_maxlen
    from kdemo.text.preprocessor import Transformer

    check_preprocess_mode(preprocess_mode)
    x_train = list(x_train)
    if len(x_train) != len(y_train):
        raise DataError(f"Expected one label per text. Received: {len(x_train)} texts and {len(y_train)} labels.")
    y_train, names, task = _labels(y_train, [str(c) for c in class_names or []])
    if x_test is None:
        if not 0 < val_pct < 1:
            raise DataError(f"Expected val_pct between 0 and 1 (e.g. 0.1). Received: val_pct={val_pct}.")
        x_train, x_test, y_train, y_test = train_test_split(x_train, y_train, test_size=val_pct, random_state=random_state)
    elif y_test is not None:
        y_test, _, _ = _labels(y_test, names)
    if verbose:
        print("task: text regression (supply class_names argument if this is supposed to be classification task)"
              if task == REGRESSION else f"task: text classification ({task})")
    if preprocess_mode == "standard":
        from kdemo.text.classic import standard_data

        return standard_data(x_train, y_train, list(x_test), y_test, names, task, maxlen=maxlen,
                             max_features=max_features, ngram_range=ngram_range, lang=lang, verbose=verbose)
    preproc = Transformer(model_name, maxlen=maxlen or 512, class_names=names or None, task=task)
    if maxlen is None:
        preproc.maxlen = suggest_maxlen(preproc.tokenizer, list(x_train), cap=preproc.maxlen)
    trn = preproc.preprocess_train(x_train, y_train, verbose=verbose)
    val = preproc.preprocess_test(list(x_test), y_test, verbose=verbose)
    return ktrain_result(trn, val, preproc, preprocess_mode)
