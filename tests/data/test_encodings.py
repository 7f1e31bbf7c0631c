"""Text in any encoding: the same sentences saved as Excel and Windows save them are read back unchanged.

The corpus is written at test time: Chinese, Japanese, Korean, Russian and French hotel reviews in UTF-8, UTF-8
with BOM, UTF-16, GB18030, GBK, Big5, Shift-JIS, EUC-KR, KOI8-R, Windows-1251 and Windows-1252. A file too short
to decide is read with a clear "unsure" note naming the Encoding menu.
"""

from __future__ import annotations

import codecs

import numpy as np
import pytest

from kdemo.data.encodings import ENCODING_CHOICES, detect_and_decode, encoding_label
from kdemo.data.tables import read_info, read_table
from kdemo.errors import DataError
from kdemo.inference.predictions_csv import predictions_table, text_column_for, write_csv
from kdemo.text.loaders import texts_from_csv

REVIEWS = {
    "zh": ["这家酒店的房间很干净，服务也很好，下次还会再来。", "早餐太差了，房间隔音也不好，不推荐。",
           "位置方便，离地铁站很近，性价比高。", "前台态度冷淡，办理入住等了半个小时。", "床很舒服，窗外的风景非常漂亮。"],
    "zh_hant": ["這家酒店的房間很乾淨，服務也很好，下次還會再來。", "早餐太差了，房間隔音也不好，不推薦。",
                "位置方便，離地鐵站很近，性價比高。", "前台態度冷淡，辦理入住等了半個小時。", "床很舒服，窗外的風景非常漂亮。"],
    "ja": ["このホテルの部屋はとても清潔で、スタッフも親切でした。", "朝食がひどく、部屋の防音も悪かったです。",
           "駅から近くて便利な場所にあります。", "フロントの対応が冷たく、チェックインに三十分かかりました。",
           "ベッドが快適で、窓からの景色がとても美しかったです。"],
    "ko": ["이 호텔의 방은 매우 깨끗하고 직원들도 친절했습니다.", "아침 식사가 형편없었고 방음도 좋지 않았습니다.",
           "역에서 가까워서 위치가 편리합니다.", "프런트 직원이 불친절했고 체크인에 삼십 분이 걸렸습니다.",
           "침대가 편안하고 창밖 경치가 정말 아름다웠습니다."],
    "ru": ["Номер в этой гостинице был очень чистым, а персонал вежливым.", "Завтрак был ужасным, и звукоизоляция тоже плохая.",
           "Отель расположен рядом с метро, очень удобно.", "Администратор был холоден, заселение заняло полчаса.",
           "Кровать удобная, а вид из окна просто прекрасный."],
    "fr": ["La chambre était très propre et le personnel très aimable.",
           "Le petit-déjeuner était décevant, et l'insonorisation médiocre.", "L'hôtel est situé près du métro, c'est très pratique.",
           "L'accueil était froid : l'enregistrement a duré une demi-heure.",
           "Le lit était confortable et la vue depuis la fenêtre magnifique, à côté du château."],
}
LABELS = ["positive", "negative", "positive", "negative", "positive"]
#: (language, codec written, what the detected label must mention)
CORPUS = [
    *[(lang, enc, name) for lang in REVIEWS for enc, name in
      (("utf-8", "UTF-8"), ("utf-8-sig", "UTF-8 (with BOM)"), ("utf-16", "UTF-16"))],
    ("zh", "gb18030", "GB18030"), ("zh", "gbk", "GB18030"), ("zh_hant", "big5", "Big5"),
    ("ja", "shift_jis", "Shift-JIS"), ("ja", "cp932", "Shift-JIS"), ("ko", "euc_kr", "EUC-KR"),
    ("ru", "koi8_r", "KOI8-R"), ("ru", "cp1251", "Windows-1251"), ("fr", "cp1252", "Windows-1252"),
    ("fr", "latin-1", "Windows-1252"),  # same bytes for these accents: Windows-1252 is Latin-1's superset
]


def _csv(lang: str) -> str:
    rows = [f'"{text}",{label}' for text, label in zip(REVIEWS[lang], LABELS)]
    return "text,label\n" + "\n".join(rows) + "\n"


@pytest.mark.parametrize("lang, codec, label", CORPUS, ids=[f"{c[0]}-{c[1]}" for c in CORPUS])
def test_corpus_file_reads_back_equal_to_the_original(tmp_path, lang, codec, label):
    path = tmp_path / f"reviews_{lang}_{codec}.csv"
    path.write_bytes(_csv(lang).encode(codec))
    df = read_table(path)
    assert df["text"].tolist() == REVIEWS[lang] and df["label"].tolist() == LABELS
    info = read_info(df)
    assert label in info["encoding"], info
    assert info["encoding_sure"] is True and info["notes"] == [] and info["encoding_confidence"] >= 0.9


@pytest.mark.parametrize("codec", ["gbk", "shift_jis", "koi8_r", "cp1252"])
def test_same_corpus_as_jsonl_tsv_and_txt(tmp_path, codec):
    lang = {"gbk": "zh", "shift_jis": "ja", "koi8_r": "ru", "cp1252": "fr"}[codec]
    tsv = "text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in zip(REVIEWS[lang], LABELS))
    jsonl = "".join(f'{{"text": "{t}", "label": "{y}"}}\n' for t, y in zip(REVIEWS[lang], LABELS))
    for name, content in (("r.tsv", tsv), ("r.txt", tsv), ("r.jsonl", jsonl)):
        (tmp_path / name).write_bytes(content.encode(codec))
        df = read_table(tmp_path / name)
        assert df["text"].tolist() == REVIEWS[lang], name
        info = read_info(df)
        # Sure, or (20 accents of French in JSON, where Windows-1250 scores within a hair) an unsure note.
        assert info["encoding_sure"] is True or (codec == "cp1252" and "unsure" in info["notes"][0]), info


def test_a_file_too_short_to_decide_is_read_with_an_unsure_note_that_points_to_the_menu(tmp_path):
    path = tmp_path / "one_line.csv"
    path.write_bytes("text,label\n好酒店,positive\n".encode("gbk"))  # 6 non-ASCII bytes: GBK? EUC-KR? Big5?
    info = read_info(read_table(path))
    assert info["encoding_sure"] is False and info["encoding_method"] == "detected"
    assert info["encoding_confidence"] <= 0.5 and info["encoding_alternatives"]
    (note,) = info["notes"]
    assert note == info["encoding_note"]
    assert "'one_line.csv' is not valid UTF-8" in note and "unsure" in note and "Encoding menu" in note
    assert "encoding=" in note
    # The menu's choice (or encoding=) reads it right, and says so.
    df = read_table(path, encoding="gb18030")
    assert df["text"].tolist() == ["好酒店"] and read_info(df)["encoding_method"] == "given"
    assert read_info(df)["notes"] == [] and read_info(df)["encoding_sure"] is True


def test_gbk_hotel_reviews_are_not_read_as_latin1_mojibake(tmp_path):
    """The issue's case: Excel on a Chinese Windows saves GBK; it used to load as ISO-8859-1 with a mild note."""
    path = tmp_path / "hotel.csv"
    path.write_bytes(_csv("zh").encode("gbk"))
    df = read_table(path)
    assert df["text"][0] == "这家酒店的房间很干净，服务也很好，下次还会再来。"
    assert "Latin" not in read_info(df)["encoding"]


def test_every_menu_choice_is_a_codec_with_a_name():
    for label, codec in ENCODING_CHOICES[1:]:
        assert codec and encoding_label(codec) != codec.upper() or label.startswith(codec.upper()), (label, codec)
        "abc".encode(codec)  # a real codec
    assert ENCODING_CHOICES[0][1] == ""


def test_wrong_encoding_given_is_refused_with_the_line_and_what_to_do(tmp_path):
    path = tmp_path / "hotel.csv"
    path.write_bytes(_csv("zh").encode("gbk"))
    with pytest.raises(DataError, match=r"line 2 of 'hotel.csv'.*Detect automatically"):
        read_table(path, encoding="utf-8")
    with pytest.raises(DataError, match="Expected a known encoding"):
        read_table(path, encoding="no-such-codec")


def test_texts_from_csv_takes_ktrain_encoding_and_detects_without_it(tmp_path, tiny_bert_dir):
    path = tmp_path / "hotel.csv"
    path.write_bytes(_csv("zh").encode("gbk"))
    for encoding in (None, "gbk"):
        trn, val, _ = texts_from_csv(path, "text", label_columns=["label"], model_name=str(tiny_bert_dir),
                                     val_pct=0.4, encoding=encoding, verbose=0)
        assert sorted(trn.texts + val.texts) == sorted(REVIEWS["zh"])
    with pytest.raises(DataError, match="not valid shift_jis"):
        texts_from_csv(path, "text", label_columns=["label"], model_name=str(tiny_bert_dir), encoding="shift_jis",
                       verbose=0)


def test_large_sample_decides_even_when_the_start_is_ascii(tmp_path):
    """Detection looks beyond the first kilobytes: 3,000 ASCII rows, then Chinese."""
    head = "".join(f"row {i} plain ascii,positive\n" for i in range(3000))
    path = tmp_path / "late.csv"
    path.write_bytes(("text,label\n" + head + _csv("zh").split("\n", 1)[1]).encode("gb18030"))
    df = read_table(path)
    assert df["text"].tolist()[-5:] == REVIEWS["zh"]


def test_detect_and_decode_directly_reports_method_and_codec():
    raw = "text\n" + "\n".join(REVIEWS["ja"])
    decoded = detect_and_decode(raw.encode("cp932"), "x.csv")
    assert decoded.text == raw and decoded.method == "detected" and decoded.codec == "cp932" and decoded.sure
    assert detect_and_decode(b"\xef\xbb\xbfabc", "x").method == "bom"
    assert detect_and_decode(b"abc", "x").method == "utf-8"


class _StubPredictor:
    """Stands in for a Predictor: the prediction path of a file is reading, predicting and writing."""

    def get_classes(self):
        return ["negative", "positive"]

    def predict_proba(self, texts):
        return np.array([[0.25, 0.75] if "很" in t or "とても" in t else [0.9, 0.1] for t in texts])


@pytest.mark.parametrize("lang, codec", [("zh", "gbk"), ("ja", "shift_jis")])
def test_predicting_a_gbk_or_shift_jis_file_writes_utf8_with_bom_for_excel(tmp_path, lang, codec):
    path = tmp_path / "to_predict.csv"
    path.write_bytes(("text\n" + "\n".join(REVIEWS[lang]) + "\n").encode(codec))
    df = read_table(path)
    out = predictions_table(_StubPredictor(), df, text_column_for(df, "text", name=path.name))
    dest = write_csv(out, tmp_path / "predictions.csv")
    raw = dest.read_bytes()
    assert raw.startswith(codecs.BOM_UTF8)  # Excel reads UTF-8 only with it
    back = read_table(dest)
    assert back["text"].tolist() == REVIEWS[lang] and read_info(back)["encoding"] == "UTF-8 (with BOM)"
    assert list(back.columns) == ["text", "prediction", "prob_negative", "prob_positive"]
