"""QAPredictor: a fine-tuned extractive question-answering model with its tokenizer and post-processing settings.

transformers 5 removed the ``question-answering`` pipeline; this predictor is the way to get answers out of a
fine-tuned ``AutoModelForQuestionAnswering``: the question and its context are cut into windows (``maxlen``,
``doc_stride``), and the answers are chosen by HF ``run_qa``'s post-processing
(:func:`kdemo.evaluation.qa.postprocess_qa_predictions`: the n-best start and end logits over every window, spans
inside the context, at most ``max_answer_length`` tokens, the null score for SQuAD 2.0 models). A saved folder holds
``save_pretrained`` files (it loads with ``AutoModelForQuestionAnswering``) and ``kdemo.json``; no pickles.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import torch
import transformers

from kdemo.errors import DataError, ModelError
from kdemo.evaluation.qa_postprocess import postprocess_qa_predictions
from kdemo.evaluation.qa_logits import span_logits
from kdemo.explain.attention import AttentionMaps, compute_attention
from kdemo.explain.attributions import Attribution, explain
from kdemo.inference.base import RESERVED, BasePredictor, check_text
from kdemo.modeling.classifier import load_tokenizer
from kdemo.modeling.qa import SPAN_OUTPUTS, HFQuestionAnswerer, load_question_answerer
from kdemo.tasks import QUESTION_ANSWERING
from kdemo.text.qa.preprocessor import QAPreprocessor

#: Columns of :meth:`QAPredictor.predict_table`'s output beside the input's.
ANSWER_COLUMNS = ["answer", "score", "start", "end"]


class _SpanLogits(torch.nn.Module):
    """A QA module seen as a token classifier with two outputs per token (start, end): ``.logits`` of shape
    ``(batch, seq_len, 2)``, so that :func:`kdemo.explain.attributions.explain` attributes one token's start (or
    end) logit."""

    def __init__(self, qa_model: transformers.PreTrainedModel):
        super().__init__()
        self.qa = qa_model
        self.config = qa_model.config
        self._accepted = set(inspect.signature(qa_model.forward).parameters)

    def get_input_embeddings(self):
        return self.qa.get_input_embeddings()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, inputs_embeds=None):
        # named parameters: explain() passes only the inputs forward's signature names (DistilBERT has no
        # token_type_ids, so only those the wrapped model accepts go on)
        given = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids,
                 "inputs_embeds": inputs_embeds}
        out = self.qa(**{k: v for k, v in given.items() if v is not None and k in self._accepted})
        return SimpleNamespace(logits=torch.stack([out.start_logits, out.end_logits], dim=-1))


class QAPredictor(BasePredictor):
    """Answer questions about a context with a fine-tuned extractive QA model.

    Args:
        hf_model: The ``AutoModelForQuestionAnswering`` module.
        preproc: The :class:`~kdemo.text.qa.preprocessor.QAPreprocessor` (tokenizer, windows, post-processing).
        batch_size: Windows per forward pass.
        precision: ``"fp32"`` (default, exact) or ``"bf16"``.
        meta: Extra JSON-ready facts saved in ``kdemo.json`` (base model, metrics, example).
    """

    task = QUESTION_ANSWERING

    def __init__(self, hf_model: transformers.PreTrainedModel, preproc: QAPreprocessor, *, batch_size: int = 32,
                 precision: str = "fp32", meta: dict | None = None):
        self.model = hf_model
        self.preproc = preproc
        self.tokenizer = preproc.get_tokenizer()
        self.class_names = list(SPAN_OUTPUTS)
        self.maxlen = int(preproc.maxlen)
        self.batch_size = int(batch_size)
        self.precision = precision
        self.meta = dict(meta or {})

    @classmethod
    def from_model(cls, model: HFQuestionAnswerer, preproc: QAPreprocessor, batch_size: int = 32, *,
                   meta: dict | None = None) -> QAPredictor:
        """A predictor sharing the weights of a trained :class:`~kdemo.modeling.qa.HFQuestionAnswerer`."""
        return cls(model.hf_model, preproc, batch_size=batch_size, meta={"base_model": preproc.model_name, **(meta or {})})

    @classmethod
    def load(cls, path: Path, meta: dict, batch_size: int = 32, *, backend: str = "torch") -> QAPredictor:
        """Load a question-answering folder (from :meth:`save`, or any local ``AutoModelForQuestionAnswering``
        checkpoint: ``run_qa``'s defaults then apply).

        Raises:
            ModelError: If ``backend`` is not ``"torch"``, or the weights are not safetensors or cannot be loaded.
        """
        from kdemo.device import get_device

        if backend != "torch":
            raise ModelError(f"Expected backend 'torch' for a question-answering model. Received: backend={backend!r}.")
        model = load_question_answerer(str(path))
        tokenizer = load_tokenizer(str(path))
        settings = dict(meta.get("preprocessor") or {})
        settings.setdefault("maxlen", meta.get("maxlen") or min(getattr(tokenizer, "model_max_length", 512) or 512, 384))
        settings.setdefault("model_name", meta.get("base_model"))
        model.to(get_device())
        return cls(model, QAPreprocessor.from_dict(settings, tokenizer), batch_size=batch_size,
                   meta={k: v for k, v in meta.items() if k not in RESERVED})

    # ------------------------------------------------------------------ prediction
    def _answers(self, questions: list[str], contexts: list[str], top_k: int):
        data = self.preproc.preprocess(questions, contexts)
        starts, ends = span_logits(self.model, data, batch_size=self.batch_size, precision=self.precision)
        settings = dict(self.preproc.postprocess_settings)
        settings["n_best_size"] = max(settings["n_best_size"], top_k)
        predictions = postprocess_qa_predictions(data.examples, data.features, starts, ends, **settings)
        out = []
        for qid in data.ids:
            best = predictions.answers[qid]
            ranked = list(predictions.nbest[qid])
            first = next((n for n in ranked if n["text"] == best), None)
            rows = ([first] if first is not None else []) + [n for n in ranked if n is not first]
            out.append([_row(n) for n in rows[:top_k]] or [_row(None)])
        return out

    def predict(self, question, context=None, top_k: int = 1):
        """The answer to a question about a context (or to several: lists of questions and contexts).

        Args:
            question: A question, or a list of them; or a ``(question, context)`` pair, or a list of pairs.
            context: The context to find the answer in (a list, one per question, for a list of questions).
            top_k: Answers per question, best first.

        Returns:
            For one question ``{"answer", "score", "start", "end"}`` (the old ``question-answering`` pipeline's
            form: the answer text, its probability 0–1 among the n-best spans, and its character span in the
            context; a SQuAD 2.0 model's "no answer" is ``answer == ""`` with ``start``/``end`` None), or a list of
            ``top_k`` of them with ``top_k > 1``; for a list of questions, one such result per question.

        Raises:
            DataError: If a question or context is missing or empty, or the lists differ in length.
        """
        if not isinstance(top_k, int) or top_k < 1:
            raise DataError(f"Expected top_k as a whole number >= 1. Received: top_k={top_k!r}.")
        single = isinstance(question, str) or (isinstance(question, tuple) and len(question) == 2 and context is None)
        if isinstance(question, tuple) and context is None:
            question, context = question
        questions = [question] if single else list(question)
        if context is None and questions and all(isinstance(q, (tuple, list)) and len(q) == 2 for q in questions):
            questions, contexts = [q[0] for q in questions], [q[1] for q in questions]
        else:
            contexts = [context] if single else (list(context) if context is not None else [])
        if len(contexts) != len(questions):
            raise DataError(f"Expected one context per question. Received: {len(questions)} questions and "
                            f"{len(contexts)} contexts. Pass predict(question, context).")
        for q, c in zip(questions, contexts):
            check_text(q)
            if not isinstance(c, str) or not c.strip():
                raise DataError(f"Expected a context to find the answer in. Received: {c!r}. Paste the text the "
                                "answer should come from.")
        results = self._answers([str(q) for q in questions], [str(c) for c in contexts], top_k)
        shaped = [r[0] if top_k == 1 else r for r in results]
        return shaped[0] if single else shaped

    def predict_table(self, table: pd.DataFrame, *, question_column: str = "question",
                      context_column: str = "context") -> pd.DataFrame:
        """Answer every row of a table of questions and contexts (the Predict tab's file of rows → CSV).

        Returns:
            The table with :data:`ANSWER_COLUMNS` added.

        Raises:
            DataError: If a column is missing or a row's question or context is empty (the row is named).
        """
        missing = [c for c in (question_column, context_column) if c not in table.columns]
        if missing:
            raise DataError(f"Expected columns {question_column!r} and {context_column!r}. Received: columns "
                            f"{list(map(str, table.columns))}. Rename the columns of the questions and contexts.")
        questions, contexts = table[question_column].astype(str).tolist(), table[context_column].astype(str).tolist()
        for i, (q, c) in enumerate(zip(questions, contexts)):
            if not q.strip() or not c.strip() or q == "nan" or c == "nan":
                raise DataError(f"Expected a question and a context in every row. Received: an empty one in row "
                                f"{i + 1}. Fill it in or remove the row.")
        answers = [r[0] for r in self._answers(questions, contexts, 1)] if len(table) else []
        out = table.copy()
        for col in ANSWER_COLUMNS:
            out[col] = [a[col] for a in answers]
        return out

    # ------------------------------------------------------------------ explanations
    def attention(self, text: str, text_pair: str | None = None) -> AttentionMaps:
        """Attention maps of every layer and head for a question (``text``) and its context (``text_pair``): segment
        A is the question, B the context (the first window's worth of it).

        Returns:
            :class:`kdemo.explain.attention.AttentionMaps`; ``att`` float32 ``(num_layers, num_heads, seq_len,
            seq_len)``.

        Raises:
            DataError: If the question or context is empty.
        """
        if not text_pair or not str(text_pair).strip():
            raise DataError("Expected a context with the question (the attention is read over both). Received: no "
                            "context. Fill in the context.")
        return compute_attention(self.model, self.tokenizer, check_text(text), text_pair, maxlen=self.maxlen)

    def attributions(self, text: str, text_pair: str | None = None, *, method: str = "ig", steps: int = 50,
                     token_index: int | None = None, end: bool = False) -> Attribution:
        """Token attributions of the answer's start logit (``end=True``: its end logit) at ``token_index`` (default:
        the predicted answer's first token), by integrated gradients or gradient × input.

        Raises:
            DataError: If the question or context is empty.
        """
        if token_index is None:
            token_index, _ = self.token_to_explain(text, text_pair)
        return explain(_SpanLogits(self.model), self.tokenizer, check_text(text), text_pair, method=method,
                       steps=steps, target=1 if end else 0, class_names=self.class_names, maxlen=self.maxlen,
                       token_index=token_index)

    def token_to_explain(self, question: str, context: str | None) -> tuple[int, str]:
        """The position (special tokens counted, as in ``attention(question, context).tokens``) of the predicted
        answer's first token, and a markdown phrase naming it (the ``[CLS]`` position for "no answer")."""
        if not context or not str(context).strip():
            raise DataError("Expected a context with the question. Received: no context. Fill in the context.")
        answer = self.predict(check_text(question), context)
        encoded = self.tokenizer(question, context, truncation="only_second", max_length=self.maxlen,
                                 return_offsets_mapping=True)
        seq = encoded.sequence_ids()
        index = 0
        if answer["start"] is not None:
            index = next((i for i, (s, (a, b)) in enumerate(zip(seq, encoded["offset_mapping"]))
                          if s == 1 and b > answer["start"]), 0)
        token = self.tokenizer.convert_ids_to_tokens([encoded["input_ids"][index]])[0]
        what = f"the answer's first token `{token}`" if index else "no answer (the start logit of the first token)"
        return index, f" for {what} (position {index}; answer: {answer['answer'] or '(none)'!r})"

    def explain_target(self, text: str) -> tuple[int | None, str]:
        """A question alone has no answer to explain: the Attention tab passes the context as the second text."""
        return None, ""

    def target_attributions(self, text: str, text_pair: str | None = None, *, method: str = "ig", steps: int = 50):
        """Attributions of the predicted answer's start logit, with a phrase naming the token (see
        :meth:`kdemo.inference.base.BasePredictor.target_attributions`).

        Raises:
            DataError: If the context (``text_pair``) is missing.
        """
        index, note = self.token_to_explain(text, text_pair)
        return self.attributions(text, text_pair, method=method, steps=steps, token_index=index), note

    def _meta_fields(self) -> dict:
        """The preprocessor's settings (windows, post-processing), to rebuild it on load."""
        return {"preprocessor": self.preproc.to_dict()}


def _row(n: dict | None) -> dict:
    """One answer in the old pipeline's form from an n-best entry (None: "no answer")."""
    if n is None:
        return {"answer": "", "score": 0.0, "start": None, "end": None}
    return {"answer": n["text"], "score": float(n["probability"]), "start": n.get("start"), "end": n.get("end")}

