"""kdemo: fine-tune Hugging Face text classifiers with ktrain's verbs on Keras 3 (torch backend).

Example:
    >>> import kdemo as ktrain
    >>> from kdemo import text
    >>> trn, val, preproc = text.texts_from_csv("train.csv", "text", label_columns=["label"], preprocess_mode="distilbert")
    >>> model = text.text_classifier("distilbert", trn, preproc=preproc)
    >>> learner = ktrain.get_learner(model, train_data=trn, val_data=val, batch_size=32)
    >>> learner.fit_onecycle(1e-4, 1)
    >>> predictor = ktrain.get_predictor(learner.model, preproc)
    >>> predictor.predict("a gorgeous, witty movie")
"""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # must run before anything imports keras

from kdemo import text  # noqa: E402  (ktrain's ``from ktrain import text``)
from kdemo.data.doctor import diagnose  # noqa: E402
from kdemo.data.labels import detect_task, parse_labels  # noqa: E402
from kdemo.data.tables import read_table  # noqa: E402
from kdemo.errors import DataError, HubError, KdemoError, ModelError, TrainingError  # noqa: E402
from kdemo.inference.hub_models import load_from_hub  # noqa: E402
from kdemo.inference.ner_predictor import NERPredictor  # noqa: E402
from kdemo.inference.qa_predictor import QAPredictor  # noqa: E402
from kdemo.data import ktrain_utils as utils  # noqa: E402  (ktrain's `from ktrain import utils as U`)
from kdemo.inference.predictor import Predictor, get_predictor, load_predictor  # noqa: E402
from kdemo.run.label_issues.api import find_label_issues  # noqa: E402
from kdemo.run.label_issues.result import LabelIssues  # noqa: E402
from kdemo.memory import release_gpu_memory  # noqa: E402
from kdemo.modeling.classifier import DEFAULT_MODEL_ID  # noqa: E402
from kdemo.modeling.tagger import sequence_tagger  # noqa: E402
from kdemo.run.config import TrainConfig  # noqa: E402
from kdemo.run.evaluate_runs import compare, evaluate  # noqa: E402
from kdemo.run.result import TrainResult  # noqa: E402
from kdemo.run.train import train  # noqa: E402
from kdemo.text.arrays import texts_from_array  # noqa: E402
from kdemo.text.folders import texts_from_folder  # noqa: E402
from kdemo.text.loaders import texts_from_csv, texts_from_df  # noqa: E402
from kdemo.text.ner import (  # noqa: E402
    entities_from_array,
    entities_from_conll2003,
    entities_from_df,
    entities_from_gmb,
    entities_from_jsonl,
    entities_from_txt,
)
from kdemo.text.preprocessor import Transformer  # noqa: E402
from kdemo.training.factory import get_learner  # noqa: E402
from kdemo.training.learner import Learner  # noqa: E402

from kdemo.hub.space import publish_space  # noqa: E402

from kdemo._version import __version__  # noqa: E402

__all__ = [
    "DEFAULT_MODEL_ID",
    "DataError",
    "HubError",
    "KdemoError",
    "LabelIssues",
    "Learner",
    "ModelError",
    "NERPredictor",
    "QAPredictor",
    "Predictor",
    "TrainConfig",
    "TrainResult",
    "Transformer",
    "TrainingError",
    "__version__",
    "compare",
    "detect_task",
    "diagnose",
    "entities_from_array",
    "evaluate",
    "find_label_issues",
    "entities_from_conll2003",
    "entities_from_df",
    "entities_from_gmb",
    "entities_from_jsonl",
    "entities_from_txt",
    "get_learner",
    "get_predictor",
    "load_from_hub",
    "load_predictor",
    "parse_labels",
    "publish_space",
    "read_table",
    "release_gpu_memory",
    "sequence_tagger",
    "text",
    "texts_from_array",
    "texts_from_csv",
    "texts_from_df",
    "texts_from_folder",
    "train",
    "utils",
]
