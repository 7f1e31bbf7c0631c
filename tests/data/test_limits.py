"""Input limits and the model-folder policy, as library calls (the app-level corpus is test_hostile_inputs.py)."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from kdemo.data.limits import InputLimits, check_text
from kdemo.data.tables import read_table
from kdemo.errors import DataError, ModelError
from kdemo.modeling.classifier import resolve_model_source
from kdemo.modeling.sources import FolderPolicy, hub_id_problem


@pytest.mark.parametrize(
    "kwargs, field",
    [({"max_rows": 0}, "max_rows"), ({"max_columns": 2.5}, "max_columns"), ({"max_text_chars": True}, "max_text_chars"),
     ({"max_compression_ratio": 1}, "max_compression_ratio"), ({"max_cell_chars": "10"}, "max_cell_chars")],
)
def test_limits_are_validated_on_construction(kwargs, field):
    with pytest.raises(ValueError, match=f"Expected {field} to be"):
        InputLimits(**kwargs)


def test_limits_passed_to_read_table_apply(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"text": ["a" * 50, "b", "c"], "label": ["x", "y", "x"]}).to_csv(path, index=False)
    assert len(read_table(path)) == 3
    with pytest.raises(DataError, match=r"at most 2 data rows\. Received: 't\.csv' has more \(counting stopped at row 3\)"):
        read_table(path, limits=InputLimits(max_rows=2))
    with pytest.raises(DataError, match="at most 1 columns"):
        read_table(path, limits=InputLimits(max_columns=1))
    with pytest.raises(DataError, match="50 characters in row 1, column 'text'"):
        read_table(path, limits=InputLimits(max_cell_chars=10))
    pd.read_csv(path).to_parquet(tmp_path / "t.parquet")
    with pytest.raises(DataError, match="'t.parquet' has 3 data rows"):
        read_table(tmp_path / "t.parquet", limits=InputLimits(max_rows=2))
    pd.read_csv(path).to_excel(tmp_path / "t.xlsx", index=False)
    assert len(read_table(tmp_path / "t.xlsx")) == 3
    with pytest.raises(DataError, match="would unpack to"):
        read_table(tmp_path / "t.xlsx", limits=InputLimits(max_uncompressed_bytes=1000))
    with pytest.raises(DataError, match=r"has more \(counting stopped at row 3\)"):  # openpyxl stops past the cap
        read_table(tmp_path / "t.xlsx", limits=InputLimits(max_rows=2))


def test_check_text_refuses_long_texts_and_lone_surrogates_and_keeps_the_rest():
    assert check_text("a fine movie 😀") == "a fine movie 😀"
    with pytest.raises(DataError, match="at most 5 characters.*Received: 6 characters"):
        check_text("abcdef", limits=InputLimits(max_text_chars=5))
    with pytest.raises(DataError, match=r"unpaired surrogate U\+DC00 at character 2"):
        check_text("a\udc00")


@pytest.mark.parametrize(
    "name, reason",
    [("org/name", None), ("bert-base-uncased", None), ("a b", "spaces"), ("a/b/c", "2 '/'"), ("", "empty"),
     ("x" * 97, "97 characters"), ("org/-x", "starts or ends"), ("org/a--b", "'--'"), ("o/n\x00", "control"),
     ("hf://org/x", "':'"), ("org/na$me", "'$'"), ("org//x", "2 '/'")],
)
def test_hub_id_problems_are_named(name, reason):
    problem = hub_id_problem(name)
    assert problem is None if reason is None else reason in problem


def test_folder_policy(tmp_path, tiny_bert_dir):
    root = tmp_path / "kdemo-sessions-x"
    own, other = root / "s-own", root / "s-other"
    for folder in (own, other):
        shutil.copytree(tiny_bert_dir, folder / "model")
    mine = FolderPolicy(own_folder=own, sessions_root=root)
    assert resolve_model_source(str(own / "model"), policy=mine) == str(own / "model")
    with pytest.raises(ModelError, match="inside another session's working folder"):
        resolve_model_source(str(other / "model"), policy=mine)
    (tmp_path / "link").symlink_to(other / "model")  # a link does not get around it
    with pytest.raises(ModelError, match="inside another session's working folder"):
        resolve_model_source(str(tmp_path / "link"), policy=mine)
    with pytest.raises(ModelError, match="inside another session's working folder"):  # even with no policy given
        resolve_model_source(str(other / "model"))
    assert resolve_model_source(str(tiny_bert_dir)) == str(tiny_bert_dir)  # any other folder, off a Space
    shared = FolderPolicy(allow_local=False, own_folder=own, sessions_root=root)
    assert resolve_model_source(str(own / "model"), policy=shared) == str(own / "model")
    with pytest.raises(ModelError, match="this server is shared"):
        resolve_model_source(str(tiny_bert_dir), policy=shared)
    assert resolve_model_source("org/name", policy=shared) == "org/name"  # Hub ids are untouched
    with pytest.raises(TypeError, match="allow_local"):
        FolderPolicy(allow_local="no")


def test_upload_size_reads_as_the_file_box_shows_it():
    from kdemo.data.limits import format_upload_size, upload_limit_note

    assert format_upload_size(50 * 2**20) == "50.0 MB" and format_upload_size(50_000_304) == "47.7 MB"
    assert format_upload_size(7_800) == "7.6 KB"
    assert "**50.0 MB**" in upload_limit_note() and "52,428,800 bytes" in upload_limit_note()


def test_count_longer_counts_texts_over_maxlen_and_scales_a_sample():
    from kdemo.data.lengths import count_longer

    texts = ["a " * n for n in range(1, 41)]  # 1..40 words
    assert count_longer(texts, None, 30) == (10, 40, False)  # words 31..40
    longer, total, estimated = count_longer(texts * 50, None, 30, sample=100)
    assert estimated and total == 2000 and 350 <= longer <= 650  # 500 exactly
