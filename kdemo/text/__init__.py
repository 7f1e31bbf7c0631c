"""ktrain's text API (``from kdemo import text``, as ``from ktrain import text``).

``texts_from_csv/df/folder/array`` prepare data, ``entities_from_conll2003/txt/df/array/jsonl`` token
(NER) data, ``qa_from_squad/df`` extractive question-answering data (with ``question_answerer``),
``Transformer`` is the preprocessor of one checkpoint,
``text_classifier``/``text_regression_model``/``sequence_tagger`` build models by ktrain name: transformers, and
(on ``preprocess_mode="standard"`` data) ktrain's classic ``fasttext``, ``logreg``, ``nbsvm``, ``bigru``,
``standard_gru`` and ``linreg`` Keras models (:mod:`kdemo.text.classic`).
"""

from kdemo.data.dataset import TextDataset
from kdemo.modeling.qa import question_answerer
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
from kdemo.text.qa import QAPreprocessor, qa_from_df, qa_from_squad

#: ktrain's name of the transformer dataset class.
TransformerDataset = TextDataset

__all__ = [
    "NERPreprocessor",
    "QAPreprocessor",
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
    "qa_from_df",
    "qa_from_squad",
    "question_answerer",
    "sequence_tagger",
    "text_classifier",
    "text_regression_model",
    "texts_from_array",
    "texts_from_csv",
    "texts_from_df",
    "texts_from_folder",
]
