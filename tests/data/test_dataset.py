"""Length-grouped batching, dynamic padding and the BatchSequence fed to Keras fit."""

from __future__ import annotations

import numpy as np
import pytest

from kdemo.data.dataset import BatchSequence, TextDataset, length_grouped_batches, padding_aware_batches, steps_for


def _skewed_lengths(n: int = 1003, seed: int = 0) -> np.ndarray:
    """Mostly short texts (5–20 tokens) and a few very long ones (200–512), like real review data."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(5, 21, size=n)
    long_rows = rng.choice(n, size=n // 50, replace=False)
    lengths[long_rows] = rng.integers(200, 513, size=len(long_rows))
    return lengths.astype(np.int64)


def _dataset(lengths, *, labels=True, token_types=False, num_classes=2, pad=0) -> TextDataset:
    ids = [np.arange(1, n + 1, dtype=np.int64) + 100 * i for i, n in enumerate(lengths)]
    return TextDataset(
        texts=[f"text {i}" for i in range(len(lengths))],
        input_ids=ids,
        labels=np.arange(len(lengths), dtype=np.int64) % num_classes if labels else None,
        class_names=[f"c{k}" for k in range(num_classes)],
        token_type_ids=[np.ones(n, dtype=np.int64) for n in lengths] if token_types else None,
        pad_token_id=pad,
    )


# ---------------------------------------------------------------------------------------------------- batching
@pytest.mark.parametrize("rng", [np.random.default_rng(0), None], ids=["train", "eval"])
def test_every_index_exactly_once(rng):
    lengths = _skewed_lengths()
    batches = length_grouped_batches(lengths, 8, rng=rng)
    flat = np.concatenate(batches)
    assert len(flat) == len(lengths)
    assert np.array_equal(np.sort(flat), np.arange(len(lengths)))


def test_batch_sizes_training():
    lengths = _skewed_lengths(1003)
    batches = length_grouped_batches(lengths, 8, rng=np.random.default_rng(1), bucket_batches=50)
    sizes = sorted(len(b) for b in batches)
    # Mega-batches of 400 rows divide into full batches; only the last chunk of 203 rows leaves one of 3.
    assert len(batches) == steps_for(1003, 8) == 126
    assert sizes == [3] + [8] * 125


def test_batch_sizes_eval():
    batches = length_grouped_batches(_skewed_lengths(1003), 8, rng=None)
    assert [len(b) for b in batches] == [8] * 125 + [3]


def _split_cost(lengths, batches, overhead):
    return sum(overhead + len(b) * lengths[b].max() for b in batches)


def _cheapest_split_by_brute_force(sorted_lengths, max_batch, overhead):
    """Every way to cut a sorted list into contiguous batches (2**(n-1) of them)."""
    n, best = len(sorted_lengths), float("inf")
    for cuts in range(2 ** (n - 1)):
        bounds = [0] + [i + 1 for i in range(n - 1) if cuts >> i & 1] + [n]
        sizes = np.diff(bounds)
        if sizes.max() > max_batch:
            continue
        best = min(best, sum(overhead + (b - a) * sorted_lengths[a] for a, b in zip(bounds, bounds[1:])))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_padding_aware_batches_find_the_cheapest_split(seed):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 70, size=11)
    overhead, max_batch = float(rng.choice([0, 5, 20, 60])), int(rng.choice([3, 4, 11]))
    batches = padding_aware_batches(lengths, max_batch, overhead)
    flat = np.concatenate(batches)
    assert np.array_equal(np.sort(flat), np.arange(len(lengths)))  # every row once
    assert max(len(b) for b in batches) <= max_batch
    assert all(lengths[a].min() >= lengths[b].max() for a, b in zip(batches, batches[1:]))  # longest rows first
    sorted_lengths = np.sort(lengths)[::-1]
    assert _split_cost(lengths, batches, overhead) == _cheapest_split_by_brute_force(sorted_lengths, max_batch, overhead)


def test_padding_aware_batches_between_the_two_extremes():
    lengths = _skewed_lengths(1003)
    full = padding_aware_batches(lengths, 8, overhead_tokens=1e9)  # a forward pass costs more than any padding:
    assert len(full) == len(length_grouped_batches(lengths, 8, rng=None)) == steps_for(1003, 8)  # fewest batches
    no_overhead = padding_aware_batches(lengths, 8, overhead_tokens=0)  # only padding counts: no padded token
    assert all(len(set(lengths[b])) == 1 for b in no_overhead)
    middle = padding_aware_batches(lengths, 8, overhead_tokens=20)
    assert _split_cost(lengths, middle, 20) < _split_cost(lengths, full, 20)
    assert padding_aware_batches(np.array([], dtype=np.int64), 8, 20) == []
    with pytest.raises(ValueError, match="max_batch_size >= 1"):
        padding_aware_batches(lengths, 0, 20)
    with pytest.raises(ValueError, match="overhead_tokens >= 0"):
        padding_aware_batches(lengths, 8, -1)


def test_longest_batch_comes_first_in_training():
    lengths = _skewed_lengths()
    for seed in range(5):
        batches = length_grouped_batches(lengths, 16, rng=np.random.default_rng(seed))
        assert lengths[batches[0]].max() == lengths.max()


def test_training_batches_are_shuffled_and_seeded():
    lengths = _skewed_lengths()
    a = length_grouped_batches(lengths, 16, rng=np.random.default_rng(0))
    b = length_grouped_batches(lengths, 16, rng=np.random.default_rng(0))
    c = length_grouped_batches(lengths, 16, rng=np.random.default_rng(1))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    # Batch order is shuffled: the batch maxima (after the first) are not sorted.
    maxima = [lengths[x].max() for x in a[1:]]
    assert maxima != sorted(maxima, reverse=True)


def test_padding_much_smaller_than_global_max():
    lengths = _skewed_lengths()
    batches = length_grouped_batches(lengths, 16, rng=np.random.default_rng(0))
    padded = sum(len(b) * lengths[b].max() for b in batches)
    global_max = len(lengths) * lengths.max()
    assert padded < 0.15 * global_max
    # ... and much smaller than batches of random rows padded to their own longest.
    perm = np.random.default_rng(0).permutation(len(lengths))
    random_batches = [perm[i : i + 16] for i in range(0, len(perm), 16)]
    random_padded = sum(len(b) * lengths[b].max() for b in random_batches)
    assert padded < 0.5 * random_padded
    # The padding overhead over the real tokens stays small.
    assert padded < 1.6 * lengths.sum()


def test_eval_mode_is_deterministic_and_sorted():
    lengths = _skewed_lengths()
    a = length_grouped_batches(lengths, 8, rng=None)
    b = length_grouped_batches(lengths, 8, rng=None)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    order = np.concatenate(a)
    assert np.all(np.diff(lengths[order]) <= 0)


# ---------------------------------------------------------------------------------------------------- TextDataset
def test_text_dataset_lengths_and_subset():
    data = _dataset([3, 5, 2], token_types=True)
    assert data.lengths.tolist() == [3, 5, 2]
    sub = data.subset([2, 0])
    assert sub.texts == ["text 2", "text 0"]
    assert sub.lengths.tolist() == [2, 3]
    assert sub.labels.tolist() == [0, 0]
    assert np.array_equal(sub.input_ids[0], data.input_ids[2])
    assert len(sub.token_type_ids) == 2


def test_text_dataset_label_count_mismatch():
    with pytest.raises(ValueError, match="one label per text"):
        TextDataset(texts=["a", "b"], input_ids=[np.ones(2), np.ones(3)], labels=np.array([0]), class_names=["x"])


def test_collate_pads_to_longest_in_batch():
    data = _dataset([3, 7, 5], pad=9, token_types=True)
    batch = data.collate([0, 2])
    assert batch["input_ids"].shape == (2, 5)
    assert batch["input_ids"].dtype == np.int64
    assert batch["input_ids"][0].tolist() == data.input_ids[0].tolist() + [9, 9]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert batch["token_type_ids"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]


# ---------------------------------------------------------------------------------------------------- BatchSequence
def test_batch_sequence_items():
    lengths = _skewed_lengths(101)
    data = _dataset(lengths)
    seq = BatchSequence(data, 8, shuffle=True, seed=0)
    assert len(seq) == 13
    seen = []
    for i in range(len(seq)):
        inputs, labels = seq[i]
        idx = seq.batch_indices[i]
        seen.extend(idx.tolist())
        assert set(inputs) == {"input_ids", "attention_mask"}
        longest = int(lengths[idx].max())
        assert inputs["input_ids"].shape == (len(idx), longest)
        assert inputs["attention_mask"].shape == (len(idx), longest)
        assert inputs["attention_mask"].sum(axis=1).tolist() == lengths[idx].tolist()
        assert labels.tolist() == data.labels[idx].tolist()
        for row, j in enumerate(idx):
            assert inputs["input_ids"][row, : lengths[j]].tolist() == data.input_ids[j].tolist()
    assert sorted(seen) == list(range(101))
    assert seq[0][0]["input_ids"].shape[1] == lengths.max()


def test_batch_sequence_class_weight_adds_sample_weights():
    data = _dataset([4, 6, 3, 5, 2, 7], num_classes=3)
    seq = BatchSequence(data, 4, shuffle=False, class_weight={0: 1.0, 1: 2.5, 2: 0.5})
    for i in range(len(seq)):
        inputs, labels, weights = seq[i]
        assert weights.dtype == np.float32
        assert weights.shape == labels.shape
        expected = [{0: 1.0, 1: 2.5, 2: 0.5}[int(y)] for y in labels]
        assert weights.tolist() == expected


def test_batch_sequence_unlabelled_and_token_types():
    data = _dataset([4, 6, 3], labels=False, token_types=True)
    item = BatchSequence(data, 2, shuffle=False)[0]
    assert isinstance(item, tuple) and len(item) == 1
    assert set(item[0]) == {"input_ids", "attention_mask", "token_type_ids"}


def test_on_epoch_end_reshuffles_in_training_only():
    data = _dataset(_skewed_lengths(200))
    seq = BatchSequence(data, 8, shuffle=True, seed=3)
    before = [b.copy() for b in seq.batch_indices]
    seq.on_epoch_end()
    after = seq.batch_indices
    assert not all(np.array_equal(x, y) for x, y in zip(before, after))
    assert sorted(np.concatenate(after).tolist()) == list(range(200))
    assert data.lengths[after[0]].max() == data.lengths.max()

    evaluation = BatchSequence(data, 8, shuffle=False)
    before = [b.copy() for b in evaluation.batch_indices]
    evaluation.on_epoch_end()
    assert all(np.array_equal(x, y) for x, y in zip(before, evaluation.batch_indices))


def test_batch_sequence_padded_tokens():
    data = _dataset([2, 2, 10, 10])
    seq = BatchSequence(data, 2, shuffle=False)
    assert seq.padded_tokens() == (24, 24)  # sorted batches: no padding at all
    data = _dataset([2, 10, 2, 10])
    assert BatchSequence(data, 4, shuffle=False).padded_tokens() == (24, 40)


def test_batch_sequence_rejects_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        BatchSequence(_dataset([3, 4]), 0, shuffle=True)
    empty = TextDataset(texts=[], input_ids=[], labels=None, class_names=[])
    with pytest.raises(ValueError, match="at least one row"):
        BatchSequence(empty, 4, shuffle=False)


def test_steps_for():
    assert steps_for(100, 32) == 4
    assert steps_for(96, 32) == 3
    assert steps_for(1, 32) == 1
