"""Extractive question answering data (SQuAD): questions and contexts cut into windows, as HF's ``run_qa`` does.

- :mod:`~kdemo.data.qa_files`: reading SQuAD JSON and question tables into a :class:`~kdemo.data.qa_files.QACorpus`.
- :mod:`~kdemo.data.qa_doctor`: the data doctor for question files.
- :mod:`~kdemo.text.qa.dataset`: :class:`QADataset`, windows with ``doc_stride`` and the answers' token positions.
- :mod:`~kdemo.text.qa.preprocessor`: :class:`QAPreprocessor` (tokenizer, windows, post-processing settings).
- :mod:`~kdemo.text.qa.loaders`: ``qa_from_squad`` and ``qa_from_df``, returning ``(trn, val, preproc)``.
"""

from kdemo.text.qa.dataset import QADataset, encode_questions
from kdemo.text.qa.loaders import qa_from_df, qa_from_squad
from kdemo.text.qa.preprocessor import QAPreprocessor

__all__ = ["QADataset", "QAPreprocessor", "encode_questions", "qa_from_df", "qa_from_squad"]
