"""Token classification (named-entity recognition) data: ktrain's ``ktrain.text.ner`` for transformers.

- :mod:`~kdemo.data.tag_schemes`: tag schemes (BIO, IOB1, BIOES, IO), conversion to BIO, repairs, entity spans.
- :mod:`~kdemo.data.token_files`: reading CoNLL column files and JSON Lines into a :class:`TokenCorpus`.
- :mod:`~kdemo.text.ner.dataset`: :class:`TokenDataset`, sentences cut into windows of sub-word tokens.
- :mod:`~kdemo.text.ner.preprocessor`: :class:`NERPreprocessor` (ktrain's name), tag list and word splitting.
- :mod:`~kdemo.data.token_doctor`: :func:`diagnose_tokens`, the data doctor for token files.
- :mod:`~kdemo.text.ner.loaders`: ktrain's ``entities_from_conll2003/txt/gmb/df/array`` (+ ``entities_from_jsonl``).
"""

from kdemo.text.ner.dataset import TokenDataset, encode_sentences
from kdemo.data.token_doctor import TokenDiagnosis, diagnose_tokens
from kdemo.data.token_files import TokenCorpus, looks_like_token_file, read_token_file
from kdemo.text.ner.loaders import (
    entities_from_array,
    entities_from_conll2003,
    entities_from_df,
    entities_from_gmb,
    entities_from_jsonl,
    entities_from_txt,
)
from kdemo.text.ner.preprocessor import NERPreprocessor, class_names_for, split_words
from kdemo.data.tag_schemes import detect_scheme, entity_spans, normalize_tags, repair_bio, to_bio

__all__ = [
    "NERPreprocessor",
    "TokenCorpus",
    "TokenDataset",
    "TokenDiagnosis",
    "class_names_for",
    "detect_scheme",
    "diagnose_tokens",
    "encode_sentences",
    "entities_from_array",
    "entities_from_conll2003",
    "entities_from_df",
    "entities_from_gmb",
    "entities_from_jsonl",
    "entities_from_txt",
    "entity_spans",
    "looks_like_token_file",
    "normalize_tags",
    "read_token_file",
    "repair_bio",
    "split_words",
    "to_bio",
]
