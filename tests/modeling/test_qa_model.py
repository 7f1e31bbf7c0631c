"""The span model: transformers' own question-answering loss, padding that changes nothing, the span accuracy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kdemo.modeling.qa import HFQuestionAnswerer, SpanAccuracy, SpanCrossentropy, load_question_answerer
from tiny_models import build_tiny_model


@pytest.fixture(scope="module")
def answerer(tmp_path_factory):
    folder = build_tiny_model(tmp_path_factory.mktemp("tiny-qa-model"), "bert")
    torch.manual_seed(0)
    return HFQuestionAnswerer(load_question_answerer(str(folder), new_head=True), precision="fp32")


def test_loss_equals_transformers_question_answering_loss(answerer):
    torch.manual_seed(1)
    ids = torch.randint(5, 60, (4, 12))
    mask = torch.ones_like(ids)
    positions = torch.tensor([[1, 3], [0, 0], [5, 11], [2, 2]])
    with torch.no_grad():
        hf = answerer.hf_model(input_ids=ids, attention_mask=mask, start_positions=positions[:, 0],
                               end_positions=positions[:, 1])
        ours = SpanCrossentropy()(positions, answerer({"input_ids": ids, "attention_mask": mask}))
    assert float(ours) == pytest.approx(float(hf.loss), abs=1e-6)
    assert answerer.hf_model.config.id2label == {0: "start", 1: "end"}


def test_padding_changes_neither_loss_nor_accuracy(answerer):
    torch.manual_seed(2)
    ids = torch.randint(5, 60, (3, 10))
    positions = torch.tensor([[1, 3], [4, 6], [0, 0]])
    padded = torch.cat([ids, torch.zeros(3, 6, dtype=torch.long)], dim=1)
    mask = torch.cat([torch.ones(3, 10, dtype=torch.long), torch.zeros(3, 6, dtype=torch.long)], dim=1)
    with torch.no_grad():
        plain = answerer({"input_ids": ids, "attention_mask": torch.ones_like(ids)})
        wide = answerer({"input_ids": padded, "attention_mask": mask})
    loss = SpanCrossentropy()
    assert float(loss(positions, wide)) == pytest.approx(float(loss(positions, plain)), abs=1e-5)
    weighted = loss(positions, plain, sample_weight=torch.tensor([2.0, 2.0, 2.0]))
    assert float(weighted) == pytest.approx(2 * float(loss(positions, plain)), rel=1e-6)
    metric = SpanAccuracy()
    best = plain.argmax(dim=1)  # (batch, 2): the arg-max start and end
    metric.update_state(best, plain)
    assert float(metric.result()) == 1.0
    metric.reset_state()
    metric.torch_update(np.array([[1, 3], [4, 6], [0, 0]]), plain)
    assert 0.0 <= float(metric.result()) <= 1.0
