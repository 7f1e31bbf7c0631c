"""Token classification: the tagger, its loss and metric, the Learner on token data, seqeval's report, the
NERPredictor (pipeline parity), save/load, the run, and the CLI. Fast tests use a tiny random-init BERT."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import SHARED_DATA

import kdemo
from kdemo.cli import main
from kdemo.errors import DataError, TrainingError
from kdemo.evaluation.ner import NERReport, ner_metrics
from kdemo.inference.entities_csv import COLUMNS, entities_table
from kdemo.inference.ner_merge import simple_entities
from kdemo.modeling.tagger import HFTokenClassifier, MaskedSparseCrossentropy, MaskedTokenAccuracy
from kdemo.text.ner import NERPreprocessor
from kdemo.training.token_evaluator import tag_weights

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def toy_sentences(n: int = 80) -> tuple[list[list[str]], list[list[str]]]:
    """Learnable BIO sentences over the tiny tokenizer's words; "zorblax" splits into several sub-words."""
    words, tags = [], []
    for i in range(n):
        w, t = ["the", "movie", "with"], ["O", "O", "O"]
        if i % 3 == 0:
            w, t = w + ["actor", "story"], t + ["B-PER", "I-PER"]
        elif i % 3 == 1:
            w, t = w + ["zorblax"], t + ["B-LOC"]
        else:
            w, t = w + ["stock", "market"], t + ["B-ORG", "I-ORG"]
        words.append(w + ["was", "good"])
        tags.append(t + ["O", "O"])
    return words, tags


def write_conll(path, words, tags):
    lines = ["-DOCSTART- -X- O O", ""]
    for ws, ts in zip(words, tags):
        lines += [f"{w} NN O {t}" for w, t in zip(ws, ts)] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def toy_conll(tmp_path_factory):
    return write_conll(tmp_path_factory.mktemp("ner") / "toy.conll", *toy_sentences())


@pytest.fixture(scope="module")
def trained(tiny_bert_dir, toy_conll, one_torch_thread):
    """A tiny tagger trained through kdemo.train (6 epochs; a few seconds)."""
    config = kdemo.TrainConfig(train_file=str(toy_conll), model_name=str(tiny_bert_dir), epochs=6, lr=5e-3,
                               batch_size=16, precision="fp32", val_pct=0.2)
    return kdemo.train(config)


# ---------------------------------------------------------------------------------------------- loss and metric
def test_masked_loss_is_torch_cross_entropy_with_ignore_index_and_weights():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 3)
    labels = torch.tensor([[-100, 0, 2, -100, 1], [-100, 1, -100, -100, -100]])
    weights = [0.5, 2.0, 1.0]
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, 3), labels.reshape(-1), ignore_index=-100,
                                                 weight=torch.tensor(weights))
    assert float(MaskedSparseCrossentropy(weights)(labels, logits)) == pytest.approx(float(expected), rel=1e-6)
    assert float(MaskedSparseCrossentropy()(torch.full((1, 3), -100), logits[:1, :3])) == 0.0


def test_masked_accuracy_counts_only_labelled_tokens():
    logits = torch.tensor([[[5.0, 0, 0], [0, 5.0, 0], [0, 0, 5.0]]])
    labels = torch.tensor([[0, 0, -100]])  # right, wrong, ignored
    metric = MaskedTokenAccuracy()
    metric.update_state(labels, logits)
    assert float(metric.result()) == pytest.approx(0.5)


# ---------------------------------------------------------------------------------------------- seqeval report
def test_fast_step_paths_equal_keras_loss_and_metric():
    from kdemo.modeling.fast_losses import torch_loss_for

    torch.manual_seed(0)
    logits = torch.randn(3, 6, 4, requires_grad=True)
    labels = torch.tensor([[-100, 0, 3, -100, 1, -100], [-100, 2, 2, -100, -100, -100], [-100] * 6])
    for weights in (None, [0.5, 2.0, 1.0, 3.0]):
        loss = MaskedSparseCrossentropy(weights)
        fast = torch_loss_for(loss)
        expected = torch.nn.functional.cross_entropy(
            logits.reshape(-1, 4), labels.reshape(-1), ignore_index=-100,
            weight=None if weights is None else torch.tensor(weights))
        assert fast(labels, logits, None).item() == pytest.approx(float(expected), rel=1e-6)
        assert loss(labels, logits).item() == pytest.approx(float(expected), rel=1e-6)
    empty = torch_loss_for(MaskedSparseCrossentropy([1.0, 2.0, 1.0, 1.0]))(labels[2:], logits[2:], None)
    empty.backward()
    assert float(empty) == 0.0 and not torch.isnan(logits.grad).any() and float(logits.grad.abs().sum()) == 0.0
    keras_metric, fast_metric = MaskedTokenAccuracy(), MaskedTokenAccuracy()
    for i in range(3):
        keras_metric.update_state(labels[i:i + 1], logits[i:i + 1].detach())
        assert fast_metric.torch_update(labels[i:i + 1], logits[i:i + 1].detach())
    assert float(fast_metric.result()) == pytest.approx(float(keras_metric.result()))
    assert float(fast_metric.total.value) == 5.0


def test_ner_metrics_on_a_hand_made_case():
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["I-ORG", "O"]]  # strict IOB2: a lone I-ORG is no entity
    report = ner_metrics(true, pred)
    assert (report.precision, report.recall) == (pytest.approx(0.5), pytest.approx(1 / 3))
    assert report.f1 == pytest.approx(0.4) and float(report) == pytest.approx(0.4)
    assert report.macro_f1 == pytest.approx(1 / 3)
    assert report.accuracy == pytest.approx(4 / 6)
    assert report.per_type.loc["PER", "f1-score"] == 1.0 and report.per_type.loc["LOC", "recall"] == 0.0
    d = report.to_dict()
    assert d["entity_confusion"]["labels"] == ["LOC", "ORG", "PER", "O"]
    # LOC predicted as ORG; ORG missed; PER right; nothing spurious
    assert d["entity_confusion"]["matrix"] == [[0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0], [0, 0, 0, 0]]
    assert {r["type"] for r in d["per_type"]} == {"LOC", "ORG", "PER"}
    json.dumps(d)


# ---------------------------------------------------------------------------------------------- learner
@pytest.fixture
def token_data(tiny_bert_dir):
    preproc = NERPreprocessor(str(tiny_bert_dir), maxlen=32)
    words, tags = toy_sentences(60)
    trn = preproc.preprocess_train(words[:48], tags[:48])
    val = preproc.preprocess_test(words[48:], tags[48:])
    return trn, val, preproc


def test_training_lowers_the_loss_and_validate_reports_entities(token_data, capsys):
    trn, val, preproc = token_data
    torch.manual_seed(0)
    model = kdemo.text.sequence_tagger("bilstm-transformer", preproc, precision="fp32")
    assert isinstance(model, HFTokenClassifier)
    assert model.hf_model.config.id2label == dict(enumerate(preproc.get_classes()))
    learner = kdemo.get_learner(model, train_data=trn, val_data=val, batch_size=8)
    before = learner.validation_report()
    history = learner.fit_onecycle(5e-3, 3, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    assert history.history["val_accuracy"][-1] > 0.9
    report = learner.validate()
    assert isinstance(report, NERReport) and report.f1 > max(0.8, before.f1)
    assert "PER" in capsys.readouterr().out
    assert set(report.entity_types) == {"LOC", "ORG", "PER"}
    tags = learner.predict()
    assert [len(t) for t in tags] == [len(w) for w in val.words]
    top = learner.top_losses(2)
    assert len(top) == 2 and top[0][1] >= top[1][1] and top[0][2] == val.tags[top[0][0]]
    learner.view_top_losses(1)
    assert "loss:" in capsys.readouterr().out
    state = learner.model._step_state  # the training step used the token loss' and accuracy's torch paths
    assert state.fast_loss is not None and state.fast_metrics is not None
    assert list(learner.top_losses_table(2).columns) == ["row", "text", "true", "predicted", "loss"]


def test_class_weight_balanced_weights_tags_and_bad_ids_are_refused(token_data):
    trn, _, preproc = token_data
    weights = tag_weights("balanced", trn)
    names = preproc.get_classes()
    assert weights[names.index("O")] < 1 < weights[names.index("B-PER")]
    with pytest.raises(TrainingError, match="tag ids"):
        tag_weights({99: 2.0}, trn)
    model = kdemo.sequence_tagger("bilstm", preproc, precision="fp32")
    learner = kdemo.get_learner(model, train_data=trn, batch_size=16)
    learner.fit_onecycle(1e-3, 1, verbose=0, class_weight="balanced", steps_per_epoch=1)
    assert model.tag_weights == pytest.approx(weights)
    learner.fit_onecycle(1e-3, 1, verbose=0, steps_per_epoch=1)
    assert model.tag_weights is None


def test_lr_find_and_autofit_run_on_token_data(token_data):
    trn, val, preproc = token_data
    learner = kdemo.get_learner(kdemo.sequence_tagger("bilstm", preproc, precision="fp32"), trn, val, batch_size=8)
    learner.lr_find(num_steps=6, verbose=0)
    assert len(learner.lr_finder.losses) >= 2
    history = learner.autofit(1e-3, 1, verbose=0)
    assert "val_loss" in history.history


# ---------------------------------------------------------------------------------------------- predictor
def test_predictor_gives_ktrain_word_tags(trained):
    predictor = trained.predictor
    assert isinstance(predictor, kdemo.NERPredictor)
    out = predictor.predict("the movie with actor story was good")
    assert out == [("the", "O"), ("movie", "O"), ("with", "O"), ("actor", "B-PER"), ("story", "I-PER"),
                   ("was", "O"), ("good", "O")]
    words = ["the", "movie", "with", "stock", "market", "was", "good"]
    tagged = predictor.predict(words, is_split_into_words=True)
    assert [w for w, _ in tagged] == words and [t for _, t in tagged][3:5] == ["B-ORG", "I-ORG"]
    with_proba = predictor.predict("the movie with zorblax", return_proba=True, return_offsets=True)
    assert with_proba[3][:2] == ("zorblax", "B-LOC") and 1 / len(predictor.get_classes()) < with_proba[3][2] <= 1 and with_proba[3][3] == (15, 22)
    entities = predictor.predict("the movie with actor story", merge_tokens=True)
    assert [(e["entity_group"], e["word"], e["start"], e["end"]) for e in entities] == [("PER", "actor story", 15, 26)]


def test_attention_and_attributions_of_a_token(trained):
    predictor = trained.predictor
    maps = predictor.attention("the movie with actor story")
    assert maps.att.shape[-1] == 7 and maps.tokens[1] == "the"
    attribution = predictor.attributions("the movie with actor story", token_index=4, method="grad_x_input")
    assert attribution.label == "B-PER" and len(attribution.scores) == 7


def test_saved_folder_loads_in_pipeline_with_the_same_entities(trained, tmp_path):
    from transformers import pipeline

    folder = trained.save(tmp_path / "ner")
    results = json.loads((folder / "training_results.json").read_text())
    assert {"per_type", "entity_confusion", "f1"} <= set(results["evaluation"])
    assert (folder / "confusion_matrix.png").stat().st_size > 0  # the entity-type confusion matrix
    params = json.loads((folder / "training_params.json").read_text())
    assert params["resolved"]["task"] == "token_classification" and params["metrics"]["f1"] > 0.8
    assert not list(folder.glob("*.bin")) and not list(folder.glob("*.pkl"))
    loaded = kdemo.load_predictor(folder)
    assert isinstance(loaded, kdemo.NERPredictor) and loaded.get_classes() == trained.predictor.get_classes()
    pipe = pipeline("token-classification", model=str(folder), aggregation_strategy="simple")
    texts = ["the movie with actor story, and the zorblax stock market!", "Stock Market was good", "zzq actor"]
    for text in texts:
        ours, theirs = loaded.predict(text, merge_tokens=True), pipe(text)
        assert [(e["entity_group"], e["word"], e["start"], e["end"]) for e in ours] == \
               [(e["entity_group"], e["word"], e["start"], e["end"]) for e in theirs]
        assert np.allclose([e["score"] for e in ours], [float(e["score"]) for e in theirs], atol=1e-5)
    assert any(pipe(t) for t in texts)  # the comparison was not of empty lists


def test_entities_table_has_one_row_per_entity(trained):
    # pipeline's "simple" aggregation tags every sub-word on its own, so whole-vocabulary words are used here
    table = entities_table(trained.predictor, ["the movie with actor story", "the movie was good",
                                               "the movie with stock market"])
    assert list(table.columns) == COLUMNS
    assert table[["text_id", "entity", "type", "start", "end"]].values.tolist() == [
        [1, "actor story", "PER", 15, 26], [3, "stock market", "ORG", 15, 27]]


def test_cli_trains_a_token_file_and_predicts_entities(tiny_bert_dir, toy_conll, tmp_path, capsys):
    out = tmp_path / "model"
    code = main(["train", str(toy_conll), "--model", str(tiny_bert_dir), "--epochs", "3", "--lr", "5e-3",
                 "--batch-size", "16", "--precision", "fp32", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "token_classification" in printed and "entity F1" in printed and "PER" in printed
    texts = tmp_path / "texts.txt"
    texts.write_text("the movie with actor story\n\nthe movie with stock market was good\n", encoding="utf-8")
    csv = tmp_path / "entities.csv"
    assert main(["predict", str(out), str(texts), "--out", str(csv)]) == 0
    table = pd.read_csv(csv, encoding="utf-8-sig")
    assert list(table.columns) == COLUMNS
    assert set(table["type"]) >= {"PER", "ORG"} and set(table["text_id"]) == {1, 2}


# ---------------------------------------------------------------------------------------------- slow: MiniLM
@pytest.mark.slow
def test_minilm_on_conll2003_slice_matches_pipeline(tmp_path):
    from transformers import pipeline

    train_file = SHARED_DATA / "conll2003" / "train.txt"
    if not train_file.exists():
        pytest.skip("shared conll2003 not found")
    corpus = kdemo.text.ner.read_token_file(train_file)
    write_conll(tmp_path / "slice.conll", corpus.words[:300], corpus.tags[:300])
    result = kdemo.train(kdemo.TrainConfig(train_file=str(tmp_path / "slice.conll"), epochs=2, lr=3e-4, batch_size=16))
    folder = result.save(tmp_path / "minilm-ner")
    loaded = kdemo.load_predictor(folder)
    pipe = pipeline("token-classification", model=str(folder), aggregation_strategy="simple")
    found = 0
    for words in corpus.words[300:340]:
        text = " ".join(words)
        ours, theirs = loaded.predict(text, merge_tokens=True), pipe(text)
        found += len(theirs)
        assert [(e["entity_group"], e["word"], e["start"], e["end"]) for e in ours] == \
               [(e["entity_group"], e["word"], e["start"], e["end"]) for e in theirs]
        assert np.allclose([e["score"] for e in ours], [float(e["score"]) for e in theirs], atol=1e-5)
    assert found >= 10  # entities were compared, not empty lists
    assert simple_entities(loaded.model, loaded.tokenizer, "", loaded.maxlen) == []


def test_ktrain_notebook_flow_with_entities_from_conll2003(tiny_bert_dir, toy_conll, tmp_path):
    from kdemo import text

    trn, val, preproc = text.entities_from_conll2003(str(toy_conll), val_pct=0.2, model_name=str(tiny_bert_dir),
                                                     verbose=0)
    model = text.sequence_tagger("bilstm-transformer", preproc)
    learner = kdemo.get_learner(model, train_data=trn, val_data=val, batch_size=16)
    learner.fit(5e-3, 2, verbose=0)
    predictor = kdemo.get_predictor(learner.model, preproc)
    assert isinstance(predictor, kdemo.NERPredictor)
    assert [w for w, _ in predictor.predict("the movie with actor story")] == ["the", "movie", "with", "actor", "story"]
    assert isinstance(learner.validate(print_report=False), NERReport)
    before = learner.predict()
    learner.save_model(str(tmp_path / "saved"))
    learner.load_model(str(tmp_path / "saved"), preproc=preproc)
    assert isinstance(learner.model, HFTokenClassifier) and learner.predict() == before


def test_run_reads_jsonl_token_files_with_a_validation_file(tiny_bert_dir, tmp_path):
    words, tags = toy_sentences(30)
    for name, rows in (("train.jsonl", range(24)), ("val.jsonl", range(24, 30))):
        lines = [json.dumps({"tokens": words[i], "ner_tags": tags[i]}) for i in rows]
        (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = kdemo.TrainConfig(train_file=str(tmp_path / "train.jsonl"), val_file=str(tmp_path / "val.jsonl"),
                               task="token-classification", model_name=str(tiny_bert_dir), epochs=1, batch_size=8)
    assert config.task == "token_classification"
    result = kdemo.train(config)
    assert result.record.train_rows == 24 and result.record.val_rows == 6
    assert result.params["resolved"]["class_names"] == result.predictor.get_classes()
    assert result.report.num_rows == 6


def test_the_token_to_explain_is_the_first_entitys_first_token(trained):
    predictor = trained.predictor
    index, note = predictor.token_to_explain("the movie with actor story")
    assert index == 4 and note == " for token `actor` (position 4; the first entity (PER))"
    assert predictor.explain_target("the movie with actor story") == (index, note)
    attribution, same = predictor.target_attributions("the movie with actor story", method="grad_x_input")
    assert same == note and attribution.label == "B-PER" and len(attribution.scores) == 7
    assert predictor.token_to_explain("the movie was good")[0] == 1  # no entity: the first token after [CLS]
    with pytest.raises(DataError, match="one text"):
        predictor.target_attributions("the movie", "a second text")


def test_the_learner_and_predictor_of_a_tagger_come_from_its_spec(token_data, trained, tmp_path):
    from kdemo.inference.base import BasePredictor
    from kdemo.training.token_evaluator import TokenEvaluator

    trn, _, preproc = token_data
    learner = kdemo.get_learner(kdemo.sequence_tagger("bilstm", preproc, precision="fp32"), train_data=trn, batch_size=16)
    assert type(learner.evaluator) is learner.spec.load("evaluator") is TokenEvaluator
    balanced = learner.balanced_class_weight()
    assert list(balanced.values()) == pytest.approx(tag_weights("balanced", trn))
    predictor = kdemo.get_predictor(learner.model, preproc)
    assert isinstance(predictor, BasePredictor) and predictor.spec.pipeline_tag == "token-classification"
    loaded = kdemo.load_predictor(trained.predictor.save(tmp_path / "ner"))
    assert type(loaded) is type(trained.predictor) and loaded.spec is trained.predictor.spec
