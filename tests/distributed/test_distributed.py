"""Data-parallel training under torchrun (gloo on CPU): sharding, progress lines, and real 2-process runs.

The two subprocess tests launch ``python -m torch.distributed.run`` (torchrun) with 2 processes of one thread
each on a tiny random BERT without dropout; together they take about 30 s.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import REPO, sentiment_frame
from safetensors.numpy import load_file
from tiny_models import build_tiny_model

import kdemo
from kdemo.cli import main
from kdemo.data.dataset import BatchSequence, TextDataset
from kdemo.distributed.context import DistributedError, check_batch_size, current
from kdemo.distributed.launch import parse_progress_line, progress_line, torchrun_command
from kdemo.distributed.sharding import ShardedBatchSequence, shard
from kdemo.training.callbacks import ProgressEvent

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


def _dataset(n: int = 37) -> TextDataset:
    rng = np.random.default_rng(0)
    ids = [np.arange(2, 2 + int(k)) for k in rng.integers(3, 20, size=n)]
    return TextDataset(texts=[f"t{i}" for i in range(n)], input_ids=ids, labels=np.arange(n) % 2, class_names=["a", "b"])


# ------------------------------------------------------------------ sharding
def test_shard_splits_contiguously_with_sizes_differing_by_at_most_one():
    batch = np.array([7, 3, 9, 1, 4])
    parts = [shard(batch, r, 2) for r in range(2)]
    assert [p.tolist() for p in parts] == [[7, 3, 9], [1, 4]]
    assert [len(shard(batch, r, 4)) for r in range(4)] == [2, 1, 1, 1]


def test_sharded_batches_cover_each_global_batch_with_weights_that_restore_the_full_mean():
    data, world = _dataset(), 3
    full = BatchSequence(data, 8, shuffle=True, seed=5)
    ranks = [ShardedBatchSequence(data, 8, rank=r, world_size=world, shuffle=True, seed=5) for r in range(world)]
    assert all(len(s) == len(full) for s in ranks)
    for b, indices in enumerate(full.batch_indices):  # same order and bucketing as one process
        rows = [data.texts[i] for i in indices]
        items = [s[b] for s in ranks]
        got = [t for r, (inputs, labels, w) in enumerate(items) for t in
               [data.texts[i] for i in shard(indices, r, world)]]
        assert got == rows
        # Keras' loss on a rank = sum(w * l) / n_rank; the mean over ranks must be sum(l) / n_global.
        per_row_factor = [w[0] / len(w) / world for (_, _, w) in items]
        np.testing.assert_allclose(per_row_factor, 1 / len(indices), rtol=1e-6)
    last = ranks[2][len(full) - 1]  # 37 rows: last batch of 5 rows -> 2, 2, 1
    assert last[2].tolist() == pytest.approx([3 * 1 / 5])


def test_a_rank_with_an_empty_slice_gets_one_row_of_weight_zero():
    data = _dataset(9)  # batch 8: the last batch has 1 row, so rank 1 of 2 has none
    seq = ShardedBatchSequence(data, 8, rank=1, world_size=2, shuffle=True, seed=0)
    sizes = [len(b) for b in seq.batch_indices]
    inputs, labels, weights = seq[sizes.index(1)]
    assert len(labels) == 1 and weights.tolist() == [0.0]


class _TokenData:
    """A token dataset's surface: lengths, per-token labels padded with -100, and inputs."""

    def __init__(self, labels: list[np.ndarray]):
        self.rows = labels
        self.lengths = np.asarray([len(r) for r in labels])

    def batch_labels(self, idx):
        out = np.full((len(idx), max(self.lengths[idx])), -100, dtype=np.int64)
        for k, i in enumerate(idx):
            out[k, : self.lengths[i]] = self.rows[i]
        return out

    def collate(self, idx):
        return {"input_ids": np.zeros((len(idx), max(self.lengths[idx])), dtype=np.int64)}

    def __len__(self):
        return len(self.rows)


@pytest.mark.parametrize("tag_weights", [None, [0.5, 2.0, 3.0]], ids=["unweighted", "tag-weights"])
def test_token_batches_split_so_the_ranks_losses_average_to_the_global_token_mean(tag_weights):
    """A token loss is a mean over labelled tokens; sentences hold different numbers of them. Each rank's loss,
    scaled by its sample weights, must average over the ranks to the loss of the whole batch in one process."""
    import torch

    from kdemo.modeling.tagger import MaskedSparseCrossentropy

    rng = np.random.default_rng(0)
    rows = []
    for n in rng.integers(2, 14, size=23):  # some positions unlabelled (-100: later sub-words, special tokens)
        row = rng.integers(0, 3, size=n)
        row[rng.random(n) < 0.3] = -100
        rows.append(row)
    data = _TokenData(rows)
    loss = MaskedSparseCrossentropy(tag_weights)
    world = 3
    seqs = [ShardedBatchSequence(data, 8, rank=r, world_size=world, shuffle=False, tag_weights=tag_weights)
            for r in range(world)]
    logits = {i: torch.from_numpy(rng.normal(size=(len(r), 3)).astype(np.float32)) for i, r in enumerate(rows)}

    def padded(idx, width):
        return torch.stack([torch.nn.functional.pad(logits[int(i)], (0, 0, 0, width - len(rows[int(i)]))) for i in idx])

    for b in range(len(seqs[0])):
        full = seqs[0]._batches[b]
        width = int(max(data.lengths[full]))
        whole = float(loss(torch.from_numpy(data.batch_labels(full)), padded(full, width)))
        parts = []
        for r, seq in enumerate(seqs):
            _, labels, weights = seq[b]
            idx = shard(full, r, world) if len(shard(full, r, world)) else full[:1]
            parts.append(float(loss(torch.from_numpy(labels), padded(idx, labels.shape[1]), torch.from_numpy(weights))))
        assert np.mean(parts) == pytest.approx(whole, rel=1e-5)
        assert sum(seq.loss_share(b) * len(shard(full, r, world)) for r, seq in enumerate(seqs)) == pytest.approx(len(full))


def test_class_weights_are_kept_and_scaled():
    data = _dataset(8)
    seq = ShardedBatchSequence(data, 8, rank=0, world_size=2, shuffle=True, seed=0, class_weight={0: 1.0, 1: 3.0})
    _, labels, weights = seq[0]
    np.testing.assert_allclose(weights, np.where(labels == 1, 3.0, 1.0) * 4 * 2 / 8)


def test_batch_size_must_divide_by_the_ranks():
    check_batch_size(16, 2)
    check_batch_size(7, 1)
    with pytest.raises(DistributedError, match=r"Expected a batch size divisible by the 2 ranks.*batch_size=15.*Use 14 or 16"):
        check_batch_size(15, 2)


def test_outside_torchrun_the_process_is_rank_0_of_1():
    ctx = current()
    assert (ctx.rank, ctx.world_size, ctx.is_main, ctx.is_distributed) == (0, 1, True, False)


def test_gradients_are_reduced_in_buckets_of_one_dtype_and_bounded_size():
    import torch

    from kdemo.distributed.gradients import _buckets

    grads = [torch.zeros(10), torch.zeros(10), torch.zeros(30), torch.zeros(5, dtype=torch.float64), torch.zeros(1)]
    sizes = [[g.numel() for g in b] for b in _buckets(grads, 100)]  # 100 bytes: 25 float32 values
    assert sizes == [[10, 10], [30], [5], [1]]


# ------------------------------------------------------------------ launch helpers
def test_progress_lines_round_trip_and_ignore_other_output():
    event = ProgressEvent(epoch=0, epochs=2, step=3, total_steps=10, loss=0.5, lr=1e-4, elapsed_s=1.0, eta_s=2.0,
                          phase="epoch_end", logs={"val_loss": np.float32(0.25), "bad": float("nan")})
    fields = parse_progress_line("[default0]:" + progress_line(event))
    assert ProgressEvent(**fields) == ProgressEvent(**{**event.__dict__, "logs": {"val_loss": 0.25, "bad": None}})
    assert parse_progress_line("Loading weights: 100%") is None
    assert parse_progress_line('{"other": 1}') is None
    assert parse_progress_line('{"kdemo_progress": ') is None


def test_torchrun_command_for_one_and_several_machines():
    one = torchrun_command(4, "run.json", "out", stop_file="stop", python="py")
    assert one == ["py", "-m", "torch.distributed.run", "--nproc_per_node=4", "--standalone", "-m", "kdemo", "train",
                   "--config", "run.json", "--out", "out", "--progress-jsonl", "--stop-file", "stop"]
    two = torchrun_command(8, "run.json", "out", nnodes=2, rdzv_endpoint="node0:29500", python="py")
    assert "--nnodes=2" in two and "--rdzv-endpoint=node0:29500" in two and "--standalone" not in two
    with pytest.raises(ValueError, match="rdzv_endpoint"):
        torchrun_command(8, "run.json", "out", nnodes=2)


def test_cli_stop_file_present_before_training_saves_nothing(ddp_setup, tmp_path, capsys, one_torch_thread):
    (tmp_path / "stop").touch()
    code = main(["train", "--config", str(ddp_setup / "run.json"), "--out", str(tmp_path / "m"),
                 "--stop-file", str(tmp_path / "stop")])
    assert code == 1 and "stopped before training: nothing saved" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


# ------------------------------------------------------------------ real runs: 2 processes against 1
@pytest.fixture(scope="module")
def ddp_setup(tmp_path_factory):
    """A tiny BERT without dropout, and a train/validation table whose last batch of 16 splits unevenly (11 rows)."""
    root = tmp_path_factory.mktemp("ddp")
    model = build_tiny_model(root / "tiny", "bert")
    config = json.loads((model / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout=0.0)
    (model / "config.json").write_text(json.dumps(config))
    df = sentiment_frame(243, seed=1)
    df.iloc[:203].to_csv(root / "train.csv", index=False)
    df.iloc[203:].to_csv(root / "val.csv", index=False)
    run = kdemo.TrainConfig(train_file=str(root / "train.csv"), val_file=str(root / "val.csv"), model_name=str(model),
                            batch_size=16, epochs=1, lr=3e-3, precision="fp32")
    (root / "run.json").write_text(json.dumps(run.to_dict()))
    return root


def _env() -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _events(stdout: str) -> list[dict]:
    return [f for f in map(parse_progress_line, stdout.splitlines()) if f]


def _train_one_and_two_ranks(root, tmp_path, capsys, timeout: int) -> SimpleNamespace:
    """Train ``root/run.json`` in this process and with 2 torchrun ranks.

    Returns:
        A namespace: ``single`` (the one-process model folder), ``work`` (torchrun's working directory; its model
        is ``work / "multi"``), ``a``, ``b`` and ``base`` (the one-process, two-rank and initial weights, name →
        array), ``one`` (the one-process progress events) and ``proc`` (the finished torchrun process).
    """
    single = tmp_path / "single"
    assert main(["train", "--config", str(root / "run.json"), "--out", str(single), "--progress-jsonl"]) == 0
    one = _events(capsys.readouterr().out)
    work = tmp_path / "ddp"
    work.mkdir()
    proc = subprocess.run([*TORCHRUN, "-m", "kdemo", "train", "--config", str(root / "run.json"), "--out", "multi",
                           "--progress-jsonl"], cwd=work, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return SimpleNamespace(single=single, work=work, one=one, proc=proc, a=load_file(single / "model.safetensors"),
                           b=load_file(work / "multi" / "model.safetensors"),
                           base=load_file(root / "tiny" / "model.safetensors"))


def test_two_ranks_train_the_same_model_as_one_process(ddp_setup, tmp_path, one_torch_thread, capsys):
    root = ddp_setup
    run = _train_one_and_two_ranks(root, tmp_path, capsys, timeout=120)
    single, work, one, proc, a, b, base = run.single, run.work, run.one, run.proc, run.a, run.b, run.base
    moved = max(float(np.abs(a[k] - base[k]).max()) for k in a if k in base)
    assert moved > 1e-3  # training changed the weights far more than the tolerance
    assert max(float(np.abs(a[k] - b[k]).max()) for k in a) < 1e-4
    texts = sentiment_frame(60, seed=7)["text"].tolist()
    p1, p2 = kdemo.load_predictor(single), kdemo.load_predictor(work / "multi")
    assert p1.predict(texts) == p2.predict(texts)
    np.testing.assert_allclose(p1.predict(texts, return_proba=True), p2.predict(texts, return_proba=True), atol=1e-5)
    # Rank 0 alone wrote: one folder in the working directory, one report, progress only from one rank.
    assert sorted(p.name for p in work.iterdir()) == ["multi"]
    assert proc.stdout.count("saved:") == 1 and proc.stdout.count("device:") == 1
    two = _events(proc.stdout)
    assert [f["step"] for f in two if f["phase"] == "train"] == list(range(1, 14))  # 203 rows / 16, each once
    # The training loss of every step and the epoch's metrics are those of the whole batch, as in one process.
    assert [f["loss"] for f in two] == pytest.approx([f["loss"] for f in one], abs=1e-4)
    end1, end2 = one[-1]["logs"], two[-1]["logs"]
    assert {k: end2[k] for k in ("loss", "accuracy", "val_loss", "val_accuracy")} == pytest.approx(
        {k: end1[k] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}, abs=1e-4)
    assert "× 2 ranks (gloo)" in proc.stdout


def test_a_killed_rank_ends_the_run_and_leaves_the_previous_folder(ddp_setup, tmp_path):
    root = ddp_setup
    out = tmp_path / "model"
    out.mkdir()
    (out / "previous.txt").write_text("complete earlier version")
    started = time.monotonic()
    proc = subprocess.run([*TORCHRUN, str(REPO / "tests" / "distributed" / "ddp_worker.py"), str(root / "run.json"), str(out), "1", "3"],
                          env=_env(), capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - started
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0 and elapsed < 60, log[-3000:]
    assert "rank 1 kills itself at step 3" in log
    root_cause = log[log.index("Root Cause"):]
    assert re.search(r"rank\s*:\s*1 \(local_rank: 1\)\s*\n\s*exitcode\s*:\s*-9", root_cause), log[-3000:]
    # The surviving rank 0 also exited non-zero (ended by torchrun's agent), and wrote nothing.
    assert re.search(r"rank\s*:\s*0 \(local_rank: 0\)\s*\n\s*exitcode\s*:\s*-?[1-9]", log), log[-3000:]
    assert "rank 0 done" not in log
    # ...saying why: ended by torchrun's agent, or its own collective failed first (whichever came first).
    assert ("kdemo: rank 0 ended by torchrun (SIGTERM): another rank failed" in log
            or "Expected all 2 ranks to take part in the step. Received on rank 0" in log), log[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["previous.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no half-written sibling left


def test_a_script_of_ktrain_verbs_under_torchrun_matches_one_process(ddp_setup, tmp_path, one_torch_thread, monkeypatch):
    import ddp_worker

    root = ddp_setup
    ddp_worker.main(["--verbs", str(root / "run.json"), str(tmp_path / "single")])
    proc = subprocess.run([*TORCHRUN, str(REPO / "tests" / "distributed" / "ddp_worker.py"), "--verbs", str(root / "run.json"),
                           str(tmp_path / "multi")], env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "rank 0 done" in proc.stdout and "rank 1 done" in proc.stdout
    a, b = load_file(tmp_path / "single" / "model.safetensors"), load_file(tmp_path / "multi" / "model.safetensors")
    assert max(float(np.abs(a[k] - b[k]).max()) for k in a) < 1e-4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["multi", "single"]
    # On a rank other than 0, predictor.save and learner.save_model write nothing.
    from kdemo.distributed.context import DistributedContext
    from kdemo.inference import base as predictor_module

    monkeypatch.setattr(predictor_module, "current", lambda: DistributedContext(rank=1, world_size=2))
    assert kdemo.load_predictor(tmp_path / "single").save(tmp_path / "rank1") == tmp_path / "rank1"
    assert not (tmp_path / "rank1").exists()


def test_a_stop_on_one_rank_stops_every_rank_after_the_same_batch(ddp_setup, tmp_path):
    proc = subprocess.run([*TORCHRUN, str(REPO / "tests" / "distributed" / "ddp_worker.py"), "--stop-at", "1", "4",
                           str(ddp_setup / "run.json"), str(tmp_path / "model")],
                          env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # Rank 1 asked after step 4; the flag travels with step 5's gradients, so both ranks end after step 5.
    assert "rank 0 trained 5 steps, stopped=True" in proc.stdout
    assert "rank 1 trained 5 steps, stopped=True" in proc.stdout
    assert kdemo.load_predictor(tmp_path / "model").predict(["the movie was great"])[0] in ("negative", "positive")


@pytest.fixture(scope="module")
def ddp_token_setup(tmp_path_factory):
    """A tiny BERT without dropout that knows the CoNLL fixture's words, and a token-classification run of it."""
    from test_ner_app import CONLL, fixture_words

    root = tmp_path_factory.mktemp("ddp-ner")
    model = build_tiny_model(root / "tiny", "bert", extra_words=fixture_words())
    config = json.loads((model / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout=0.0)
    (model / "config.json").write_text(json.dumps(config))
    run = kdemo.TrainConfig(train_file=str(CONLL), model_name=str(model), task="token_classification",
                            batch_size=16, epochs=2, lr=3e-3, precision="fp32")
    (root / "run.json").write_text(json.dumps(run.to_dict()))
    return root


def test_two_ranks_train_the_same_token_model_as_one_process(ddp_token_setup, tmp_path, one_torch_thread, capsys):
    """Sentences of a global batch hold different numbers of labelled tokens, so each rank's token mean must be
    weighted by its share of the batch's tokens (not of its sentences) for N ranks to match one process."""
    root = ddp_token_setup
    run = _train_one_and_two_ranks(root, tmp_path, capsys, timeout=180)
    single, work, one, proc, a, b, base = run.single, run.work, run.one, run.proc, run.a, run.b, run.base
    shared = [k for k in a if k in base and a[k].shape == base[k].shape]  # not the new tag head
    assert max(float(np.abs(a[k] - base[k]).max()) for k in shared) > 1e-3  # training moved the weights
    assert max(float(np.abs(a[k] - b[k]).max()) for k in a) < 1e-4
    two = _events(proc.stdout)
    train_one = [f["loss"] for f in one if f["phase"] == "train"]
    assert [f["loss"] for f in two if f["phase"] == "train"] == pytest.approx(train_one, abs=1e-4)
    p1, p2 = kdemo.load_predictor(single), kdemo.load_predictor(work / "multi")
    sentence = "Peter Novak visited Lisbon on Monday ."
    assert p1.predict(sentence) == p2.predict(sentence)


def test_two_ranks_make_one_trackio_run(ddp_setup, tmp_path):
    """Under torchrun only rank 0 logs: one run, each optimizer step once (203 rows / 16 → 13 steps)."""
    store = tmp_path / "trackio"
    env = {**_env(), "TRACKIO_DIR": str(store)}
    proc = subprocess.run([*TORCHRUN, "-m", "kdemo", "train", "--config", str(ddp_setup / "run.json"), "--out",
                           str(tmp_path / "m"), "--project", "ddp", "--run-name", "two-ranks"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    read = ("import json, trackio; from trackio.sqlite_storage import SQLiteStorage as S; "
            "runs = [r.name for r in trackio.Api().runs('ddp')]; "
            "print(json.dumps([runs, [l['step'] for l in S.get_logs('ddp', 'two-ranks') if 'train/loss' in l]]))")
    out = subprocess.run([sys.executable, "-c", read], env=env, capture_output=True, text=True, timeout=60)
    runs, steps = json.loads(out.stdout.strip().splitlines()[-1])
    assert runs == ["two-ranks"]
    assert steps == list(range(1, 14))
