"""ktrain's classic text models in kdemo against scikit-learn's TF-IDF + logistic regression, on the same rows.

Usage:
    python -m bench.baselines [--datasets sst2 ag_news] [--rows 8000] [--epochs 3]

For each dataset (``--rows`` training rows drawn with seed 0 from ``../shared/data/<name>/train.csv``, scored on
its whole test file): kdemo's ``nbsvm`` and ``logreg`` (``preprocess_mode="standard"``, ``ngram_range=3``,
``maxlen=400``, ``max_features=35000``, as ktrain's tests) and ``fasttext`` (``ngram_range=1``), each trained with
``fit_onecycle(0.01, --epochs)`` at batch 32; and scikit-learn's ``TfidfVectorizer(ngram_range=(1, 3),
min_df=1, sublinear_tf=True, max_features=35000)`` + ``LogisticRegression(max_iter=1000)``. ``seconds`` is the
wall time of preprocessing plus training (prediction excluded). Run on an idle machine; ``--rows 200 --epochs 1``
checks that the script works.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

import kdemo  # noqa: F401  (sets KERAS_BACKEND before Keras is imported)
from bench.common import SHARED_DATA, machine, print_table, write_json

MODELS = ("nbsvm", "logreg", "fasttext")


def load(name: str, rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``rows`` training rows (seed 0) and the test file of ``../shared/data/<name>``."""
    root = SHARED_DATA / name
    if not (root / "train.csv").exists():
        raise SystemExit(f"{name} not found at {root}. The benchmarks expect ../shared/data beside the repo.")
    train = pd.read_csv(root / "train.csv").sample(frac=1.0, random_state=0).head(rows).reset_index(drop=True)
    return train, pd.read_csv(root / "test.csv")


def run_kdemo(model_name: str, train: pd.DataFrame, test: pd.DataFrame, epochs: int) -> dict:
    import keras

    from kdemo import get_learner
    from kdemo import text as txt

    keras.utils.set_random_seed(0)
    classes = sorted(train.label.astype(str).unique())
    start = time.perf_counter()
    trn, val, preproc = txt.texts_from_array(
        train.text.tolist(), train.label.astype(str).tolist(), test.text.tolist(), test.label.astype(str).tolist(),
        class_names=classes, preprocess_mode="standard", maxlen=400, max_features=35000,
        ngram_range=1 if model_name == "fasttext" else 3, verbose=0)
    model = txt.text_classifier(model_name, train_data=trn, preproc=preproc, verbose=0)
    learner = get_learner(model, train_data=trn, batch_size=32)
    learner.fit_onecycle(0.01, epochs, verbose=0)
    seconds = time.perf_counter() - start
    accuracy = float((learner.predict(val).argmax(axis=1) == val[1].argmax(axis=1)).mean())
    return {"model": f"kdemo {model_name}", "accuracy": accuracy, "seconds": seconds}


def run_sklearn(train: pd.DataFrame, test: pd.DataFrame) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    start = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 3), sublinear_tf=True, max_features=35000)
    features = vectorizer.fit_transform(train.text.astype(str))
    classifier = LogisticRegression(max_iter=1000).fit(features, train.label.astype(str))
    seconds = time.perf_counter() - start
    accuracy = float((classifier.predict(vectorizer.transform(test.text.astype(str))) == test.label.astype(str)).mean())
    return {"model": "sklearn tfidf+logreg", "accuracy": accuracy, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["sst2", "ag_news"], choices=["sst2", "ag_news"])
    parser.add_argument("--rows", type=int, default=8000, help="training rows per dataset")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for name in args.datasets:
        train, test = load(name, args.rows)
        for model_name in MODELS:
            rows.append({"dataset": name, "rows": len(train), **run_kdemo(model_name, train, test, args.epochs)})
        rows.append({"dataset": name, "rows": len(train), **run_sklearn(train, test)})
    print_table(rows, ["dataset", "rows", "model", "accuracy", "seconds"])
    path = write_json("baselines", {"machine": machine(), "args": vars(args), "rows": rows})
    print(f"written: {path}")


if __name__ == "__main__":
    main()
