"""ktrain's text API (``from kdemo import text``, as ``from ktrain import text``).

``texts_from_csv/df/folder/array`` prepare data, ``entities_from_conll2003/txt/df/array/jsonl`` token
(NER) data, ``Transformer`` is the preprocessor of one checkpoint,
``text_classifier``/``text_regression_model``/``sequence_tagger`` build models by ktrain name: transformers, and
(on ``preprocess_mode="standard"`` data) ktrain's classic ``fasttext``, ``logreg``, ``nbsvm``, ``bigru``,
``standard_gru`` and ``linreg`` Keras models (:mod:`kdemo.text.classic`).
"""

from kdemo.data.dataset import TextDataset
from kdemo.modeling.tagger import print_sequence_taggers, sequence_tagger
from kdemo.text.arrays import texts_from_array
from kdemo.text.classic import StandardTextPreprocessor
from kdemo.text.classifiers import (
    print_text_classifiers,
    print_text_regression_models,
    text_classifier,
    text_regression_model,
)
from kdemo.text.folders import texts_from_folder
from kdemo.text.loaders import texts_from_csv, texts_from_df
from kdemo.text.ner import (
    NERPreprocessor,
    entities_from_array,
    entities_from_conll2003,
    entities_from_df,
    entities_from_gmb,
    entities_from_jsonl,
    entities_from_txt,
)
from kdemo.text.preprocessor import Transformer

#: ktrain's name of the transformer dataset class.
TransformerDataset = TextDataset

__all__ = [
    "NERPreprocessor",
    "StandardTextPreprocessor",
    "TextDataset",
    "Transformer",
    "TransformerDataset",
    "entities_from_array",
    "entities_from_conll2003",
    "entities_from_df",
    "entities_from_gmb",
    "entities_from_jsonl",
    "entities_from_txt",
    "print_sequence_taggers",
    "print_text_classifiers",
    "print_text_regression_models",
    "sequence_tagger",
    "text_classifier",
    "text_regression_model",
    "texts_from_array",
    "texts_from_csv",
    "texts_from_df",
    "texts_from_folder",
]
