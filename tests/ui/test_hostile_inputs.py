"""A corpus of hostile inputs sent through the app's public API (a real Gradio server driven by gradio_client).

Every input has its expected outcome: refused with a specific kdemo error class and message (its key phrase is
asserted), or accepted with the loaded shape (rows, classes) and the problems it must report. Nothing crashes (no
"Something went wrong", no traceback, no "unexpected error" logged by the server) and the server answers a health
check after each one. Hostile files are built at test time in ``tmp_path``; nothing big is committed. The limits are
``kdemo.data.limits.DEFAULT_LIMITS``; model folders follow ``kdemo.ui.auth.folder_policy``.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import shutil
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import openpyxl
import pandas as pd
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from kdemo.data.limits import DEFAULT_LIMITS
from kdemo.errors import DataError, HubError, KdemoError, ModelError
from kdemo.inference.hub_models import load_from_hub
from kdemo.ui import build_app
from kdemo.ui import errors as ui_errors
from kdemo.ui.session import STORE

CLASSES = ["negative", "positive"]
TEXT_ENDPOINTS = ("/predict", "/attention_views", "/attention", "/explain")
TRAVERSALS = ["../../etc/passwd", "/etc", "..\\..\\windows", "model/../../x", "%2e%2e/", "OTHER_SESSION"]
MODEL_FIELDS = ("/load_model", "/suggest_maxlen")


@dataclass
class Ctx:
    """What a case needs: the client, a scratch folder, model folders, and monkeypatch."""

    client: Client
    tmp: Path
    predictor_dir: Path
    other_session_model: Path
    monkeypatch: pytest.MonkeyPatch


@pytest.fixture(scope="module")
def predictor_dir(tmp_path_factory, tiny_bert_dir) -> Path:
    """The tiny BERT saved as a kdemo predictor with real class names (loads through /load_model, no training)."""
    predictor = load_from_hub(str(tiny_bert_dir))
    predictor.class_names = list(CLASSES)
    return predictor.save(tmp_path_factory.mktemp("predictor") / "tiny-sentiment")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app on a free local port; its URL."""
    os.environ["GRADIO_TEMP_DIR"] = str(tmp_path_factory.mktemp("gradio-tmp"))
    demo = build_app()
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, max_file_size="50mb")
    try:
        yield url
    finally:
        demo.close()


@pytest.fixture(scope="module")
def client(server, predictor_dir, one_torch_thread):
    """A session with example data (for /suggest_maxlen) and a loaded model (for the Predict/Attention/Hub tabs).

    Failed calls never replace the session's data or model, so every case finds both.
    """
    c = Client(server, verbose=False)
    c.predict(0.1, api_name="/load_example")
    assert "Loaded" in c.predict(str(predictor_dir), api_name="/load_model")[0]
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def other_session_model(server, predictor_dir) -> Path:
    """The model folder of another browser session (a second client that loaded a model)."""
    other = Client(server, verbose=False)
    try:
        other.predict(str(predictor_dir), api_name="/load_model")
        folder = STORE.get(type("Request", (), {"session_hash": other.session_hash})()).workdir / "model"
        assert (folder / "config.json").exists()
        yield folder
    finally:
        other.close()


def _message(client: Client, *args, api_name: str) -> str:
    """The error message of a call, or its outputs as text when it succeeds."""
    try:
        out = client.predict(*args, api_name=api_name)
    except AppError as exc:
        return str(exc)
    return " ".join(str(o) for o in out) if isinstance(out, tuple) else str(out)


def _raw_call(client: Client, api: str, data: list) -> str:
    """Call an endpoint over plain HTTP in the client's session, with JSON written by ``json.dumps`` (which escapes
    what gradio_client cannot send, such as a lone surrogate); the error message, or the outputs as text."""
    body = json.dumps({"data": data, "session_hash": client.session_hash})
    posted = httpx.post(f"{client.src}gradio_api/call/{api}", content=body,
                        headers={"Content-Type": "application/json"}, timeout=30)
    posted.raise_for_status()
    raw = httpx.get(f"{client.src}gradio_api/call/{api}/{posted.json()['event_id']}", timeout=120).text
    event = [line[7:] for line in raw.splitlines() if line.startswith("event: ")][-1]
    payload = json.loads([line[6:] for line in raw.splitlines() if line.startswith("data: ")][-1])
    return str(payload["error"]) if event == "error" else str(payload)


def _load_data(ctx: Ctx, path: Path) -> str:
    """Upload a training file: the error, or the summary and data-doctor report of a file that loads."""
    try:
        _, _, _, summary, _, doctor, _, _, _ = ctx.client.predict(handle_file(str(path)), None, 0.1, api_name="/load_data")
    except AppError as exc:
        return str(exc)
    return f"{summary}\n{doctor}"


def _file(ctx: Ctx, name: str, content: bytes | str) -> Path:
    path = ctx.tmp / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def _xlsx_bomb(ctx: Ctx, name: str, mib: int) -> Path:
    """A valid-looking workbook whose sheet XML is ``mib`` MiB of whitespace: about 1 KiB compressed per MiB."""
    wb = openpyxl.Workbook()
    wb.active.append(["text", "label"])
    wb.save(ctx.tmp / "base.xlsx")
    path = ctx.tmp / name
    with zipfile.ZipFile(ctx.tmp / "base.xlsx") as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            if item.filename != "xl/worksheets/sheet1.xml":
                dst.writestr(item, src.read(item.filename))
                continue
            with dst.open(item.filename, "w", force_zip64=True) as sheet:
                sheet.write(b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
                for _ in range(mib):
                    sheet.write(b" " * 2**20)
                sheet.write(b"</sheetData></worksheet>")
    assert path.stat().st_size < mib * 2**10 + 20_000  # a few hundred KB at most
    return path


def _xlsx_formulas(ctx: Ctx, saved_results: bool) -> Path:
    """A workbook whose text column holds formulas; with ``saved_results``, as Excel saves them (result cached)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["text", "label"])
    for formula, label in [('=HYPERLINK("http://evil.example","click me")', "positive"), ("=1+2", "negative"),
                           ('=CONCAT("a gorgeous ","movie")', "positive"), ("dull", "negative")]:
        ws.append([formula, label])
    path = ctx.tmp / f"formulas-{saved_results}.xlsx"
    wb.save(path)
    if saved_results:  # openpyxl writes no results: add them, as Excel would
        with zipfile.ZipFile(path) as zf:
            members = {n: zf.read(n) for n in zf.namelist()}
        xml = members["xl/worksheets/sheet1.xml"].decode()
        xml = re.sub(r'<c r="(A\d+)"><f>', r'<c r="\1" t="str"><f>', xml).replace("<v />", "<v>saved result</v>")
        members["xl/worksheets/sheet1.xml"] = xml.encode()
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for n, data in members.items():
                zf.writestr(n, data)
    return path


def _model_folder(ctx: Ctx, name: str) -> Path:
    """A copy of the tiny predictor folder to tamper with."""
    return Path(shutil.copytree(ctx.predictor_dir, ctx.tmp / name))


class _Payload:
    """Unpickling this runs code (it creates a marker file): it must never happen."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


def _pickle_only(ctx: Ctx) -> str:
    folder = _model_folder(ctx, "pickle-only")
    (folder / "model.safetensors").unlink()
    marker = ctx.tmp / "unpickled"
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_Payload(marker)))
    message = _message(ctx.client, str(folder), api_name="/load_model")
    assert not marker.exists(), "the pickle was loaded"
    return message


def _remote_code(ctx: Ctx) -> str:
    folder = _model_folder(ctx, "remote-code")
    marker = ctx.tmp / "remote-code-ran"
    (folder / "evil.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    config = json.loads((folder / "config.json").read_text())
    config.update(auto_map={"AutoConfig": "evil.EvilConfig", "AutoModelForSequenceClassification": "evil.EvilModel"},
                  trust_remote_code=True)
    (folder / "config.json").write_text(json.dumps(config))
    message = _message(ctx.client, str(folder), api_name="/load_model")
    assert not marker.exists(), "the model's code ran"
    return message


def _base_in_other_session(ctx: Ctx) -> str:
    """A model whose kdemo.json names another session's folder as its base checkpoint (the Attention tab loads it)."""
    folder = _model_folder(ctx, "hostile-base")
    meta = json.loads((folder / "kdemo.json").read_text())
    (folder / "kdemo.json").write_text(json.dumps({**meta, "base_model": str(ctx.other_session_model)}))
    assert "Loaded" in ctx.client.predict(str(folder), api_name="/load_model")[0]
    return _message(ctx.client, "a fine movie", "", False, api_name="/attention_compare")


def _predict_formulas(ctx: Ctx) -> str:
    """Formula-looking texts go through /predict_file; the returned CSV must neutralise them."""
    cells = ['=HYPERLINK("http://evil.example","click")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)*cmd|' /C calc'!A0"]
    path = _file(ctx, "formulas.csv", pd.DataFrame({"text": cells, "note": ["=1+1", "-1.5", "ok", "@x"]}).to_csv(index=False))
    out = ctx.client.predict(handle_file(str(path)), api_name="/predict_file")
    table = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert table["text"].tolist() == ["'" + c for c in cells]
    assert table["note"].tolist() == ["'=1+1", "-1.5", "ok", "'@x"]  # a plain number stays a number
    assert set(table["prediction"]) <= set(CLASSES)
    return Path(out).read_text(encoding="utf-8")


def _on_spaces(ctx: Ctx) -> str:
    ctx.monkeypatch.setenv("SYSTEM", "spaces")
    ctx.monkeypatch.setenv("SPACE_ID", "someone/kdemo")
    return _message(ctx.client, str(ctx.predictor_dir), api_name="/load_model")


def _path_field(api_name: str, value: str) -> Callable[[Ctx], str]:
    def run(ctx: Ctx) -> str:
        name = str(ctx.other_session_model) if value == "OTHER_SESSION" else value
        return _message(ctx.client, name, api_name=api_name)

    return run


def _text(api_name: str, text: str) -> Callable[[Ctx], str]:
    args = {"/predict": (text,), "/attention_views": (text, "", False, "all"), "/attention": (text, 2, 1),
            "/explain": (text, "", False, "ig", 10)}[api_name]
    return lambda ctx: _message(ctx.client, *args, api_name=api_name)


def _upload(name: str, content: Callable[[], bytes | str] | bytes | str, api_name: str = "/load_data"):
    def run(ctx: Ctx) -> str:
        path = _file(ctx, name, content() if callable(content) else content)
        if api_name == "/load_data":
            return _load_data(ctx, path)
        return _message(ctx.client, handle_file(str(path)), api_name=api_name)

    return run


def _parquet_rows(ctx: Ctx) -> str:
    path = ctx.tmp / "million.parquet"
    pd.DataFrame({"text": ["fine"] * 1_000_000, "label": ["a", "b"] * 500_000}).to_parquet(path)
    return _load_data(ctx, path)


MILLION_ROWS = b"text,label\n" + b"a fine movie,positive\n" * 1_000_000
WIDE_CSV = ",".join(f"c{i}" for i in range(100_000)) + "\n" + "x," * 99_999 + "x\n"
LONG = "great " * 16_667  # 100,002 characters
TOO_LONG = (f"at most {DEFAULT_LIMITS.max_text_chars:,} characters: the model reads only its first few hundred words. "
            "Received: 100,002 characters")
PATH_EXPECTED = {
    "../../etc/passwd": "Received: '../../etc/passwd', which looks like a file path (it contains '..')",
    "/etc": "Received: '/etc', which has no config.json",
    "..\\..\\windows": "Received: '..\\\\..\\\\windows', which looks like a file path (it contains '..')",
    "model/../../x": "Received: 'model/../../x', which looks like a file path (it contains '..') but is not a folder",
    "%2e%2e/": "Received: '%2e%2e/', which looks like a file path (it contains a percent-encoded",
    "OTHER_SESSION": "which is inside another session's working folder",
}
NO_TEXT_COLUMN = ("(it has no column 'text', the text column of your data). Received: columns ['id', 'score'], none "
                  "of which holds text")


def _call(api_name: str, *args) -> Callable[[Ctx], str]:
    return lambda ctx: _message(ctx.client, *args, api_name=api_name)


@dataclass(frozen=True)
class Refused:
    """The call fails: the handler raised ``error`` (exactly that kdemo error class), whose message holds ``phrase``."""

    error: type[KdemoError]
    phrase: str


@dataclass(frozen=True)
class Accepted:
    """The call succeeds (no error raised) and its result holds every one of ``phrases``.

    Attributes:
        phrases: Substrings of the result: for a training file, the loaded shape (rows and classes) and the problem
            or warning it must report; for a prediction file, the returned table.
        trainable: For a training file, whether the Data tab lets it train (``✅``) or blocks it (``⚠️``); None for
            other calls.
    """

    phrases: tuple[str, ...]
    trainable: bool | None = None


# id -> (run, expected outcome)
CASES: dict[str, tuple[Callable[[Ctx], str], Refused | Accepted]] = {
    # Data tab: training files
    "empty-file": (_upload("empty.csv", b""), Refused(DataError, "'empty.csv' is empty")),
    "header-only": (_upload("header.csv", "text,label\n"), Refused(DataError, "'header.csv' has no data rows")),
    "binary-garbage": (_upload("garbage.csv", bytes(range(256)) * 64),
                       Refused(DataError, "contains binary (NUL) bytes, the first on line 1")),
    "png-named-csv": (_upload("image.csv", b"\x89PNG\r\n\x1a\n" + bytes(200)),
                      Refused(DataError, "it looks like a PNG image")),
    "xlsx-zip-bomb": (lambda ctx: _load_data(ctx, _xlsx_bomb(ctx, "bomb.xlsx", 300)),
                      Refused(DataError, "would unpack to 300 MiB (xl/worksheets/sheet1.xml alone: 300 MiB), so it was not opened")),
    "xlsx-compression-ratio": (lambda ctx: _load_data(ctx, _xlsx_bomb(ctx, "dense.xlsx", 40)),
                               Refused(DataError, "the shape of a zip bomb, so it was not opened")),
    "xlsx-not-a-zip": (_upload("fake.xlsx", b"PK\x03\x04" + bytes(100)),
                       Refused(DataError, "Expected a valid Excel workbook (.xlsx, a ZIP archive). Received: 'fake.xlsx' is not one")),
    "xlsx-formulas": (lambda ctx: _load_data(ctx, _xlsx_formulas(ctx, False)), Accepted(
        ("**formulas-False.xlsx**: 4 rows, **2 classes** (single-label)",
         "Received: 3 empty or whitespace-only rows (rows [1, 2, 3])",
         "3 cell(s) of 'formulas-False.xlsx' hold formulas without a saved result (A2 '=HYPERLINK"), trainable=False)),
    "xlsx-formulas-saved": (lambda ctx: _load_data(ctx, _xlsx_formulas(ctx, True)), Accepted(
        ("**formulas-True.xlsx**: 4 rows, **2 classes** (single-label)", "training: **4** rows",
         "the results Excel saved were read, not the formulas"), trainable=True)),
    "csv-million-rows": (_upload("million.csv", MILLION_ROWS),
                         Refused(DataError, "Received: 'million.csv' has more (counting stopped at row 200,001)")),
    "parquet-million-rows": (_parquet_rows, Refused(DataError, "Received: 'million.parquet' has 1,000,000 data rows")),
    "jsonl-over-row-cap": (_upload("many.jsonl", '{"text": "ok", "label": "a"}\n' * 250_000),
                           Refused(DataError, "Received: 'many.jsonl' has 250,000 data rows")),
    "nan-labels": (_upload("nan.csv", "text,label\ngood,pos\nbad,NaN\nfine,pos\nawful,neg\nmeh,null\n"), Accepted(
        ("**nan.csv**: 5 rows, **2 classes** (single-label)",
         "2 rows without one (rows [2, 5]). Empty cells and 'NaN'/'None'/'null' count as missing"), trainable=False)),
    "one-class": (_upload("one.csv", "text,label\nnice one,pos\nawful,pos\nfine,pos\n"), Accepted(
        ("**one.csv**: 3 rows, **1 classes** (single-label)",
         "Expected at least 2 different labels in column 'label'. Received: only ['pos']"), trainable=False)),
    "csv-100k-columns": (_upload("wide.csv", WIDE_CSV), Refused(DataError, "Received: 'wide.csv' has 100,000 columns")),
    "csv-enormous-header": (_upload("header-1mb.csv", "h" * 1_000_000 + ",label\ngood,pos\nbad,neg\n"),
                            Refused(DataError, "a column name of 1,000,000 characters in the header of 'header-1mb.csv'")),
    "csv-giant-cell": (_upload("cell.csv", lambda: "text,label\n" + "a" * 10_000_000 + ",pos\nbad,neg\n"),
                       Refused(DataError, "10,000,000 characters in row 1, column 'text' of 'cell.csv'")),
    "non-utf8-file": (_upload("latin.csv", "text,label\ncafé très bon,pos\nnul à chier,neg\n".encode("cp1252")), Accepted(
        ("**latin.csv**: 2 rows, **2 classes** (single-label)", "read as **Windows-1252 (Western European)**",
         "'latin.csv' is not valid UTF-8 (byte 0xe9 on line 2); it was read as Windows-1252"), trainable=True)),
    # Predict tab: files to classify
    "predict-file-formulas": (_predict_formulas, Accepted(
        ("text,note,prediction,prob_negative,prob_positive", "'=HYPERLINK(\"\"http://evil.example\"\",\"\"click\"\")"))),
    "predict-file-no-text-column": (_upload("numbers.csv", "id,score\n1,0.5\n2,0.75\n", "/predict_file"),
                                    Refused(DataError, NO_TEXT_COLUMN)),
    "predict-file-million-rows": (_upload("million-predict.csv", MILLION_ROWS, "/predict_file"),
                                  Refused(DataError, "Expected at most 200,000 data rows")),
    # Predict and Attention tabs: typed texts
    **{f"text-100k-{api.strip('/')}": (_text(api, LONG), Refused(DataError, f"Expected the text to have {TOO_LONG}"))
       for api in TEXT_ENDPOINTS},
    "text-second-too-long": (_call("/attention_views", "fine", LONG, False, "all"),
                             Refused(DataError, f"Expected the second text to have {TOO_LONG}")),
    "text-lone-surrogate": (lambda ctx: _raw_call(ctx.client, "predict", ["great movie \ud83d!", ""]),
                            Refused(DataError, "an unpaired surrogate U+D83D at character 13")),
    # Model fields: the Predict tab's /load_model, and the Train tab's model name (through /suggest_maxlen)
    **{f"{api.strip('/')}-{value}": (_path_field(api, value), Refused(ModelError, PATH_EXPECTED[value]))
       for api in MODEL_FIELDS for value in TRAVERSALS},
    "load_model-space-in-id": (_call("/load_model", "a b"), Refused(ModelError, "Received: 'a b': it contains spaces")),
    "load_model-three-parts": (_call("/load_model", "org/name/extra"),
                               Refused(ModelError, "it has 2 '/'; an id has at most one")),
    "load_model-very-long-id": (_call("/load_model", "org/" + "x" * 5000),
                                Refused(ModelError, "(5,004 characters): it is 5,004 characters long")),
    "load_model-javascript": (_call("/load_model", "javascript:alert(1)"),
                              Refused(ModelError, "it contains ':' (a URL or a scheme")),
    "load_model-null-byte": (_call("/load_model", "org/na\x00me"), Refused(
        ModelError, "Received: 'org/na\\x00me': it contains control characters (such as a null byte)")),
    "suggest_maxlen-null-byte": (_call("/suggest_maxlen", "org\x00/x"),
                                 Refused(ModelError, "Received: 'org\\x00/x': it contains control characters")),
    "load_model-pickle-only": (_pickle_only, Refused(
        ModelError, "Received: only pickle files (pytorch_model.bin). kdemo does not load")),
    "load_model-remote-code": (_remote_code, Refused(
        ModelError, "asks for custom Python code (auto_map, trust_remote_code)")),
    "attention_compare-base-in-other-session": (_base_in_other_session, Refused(
        ModelError, "inside another session's working folder")),
    "load_model-local-on-spaces": (_on_spaces, Refused(
        ModelError, "a local path: this server is shared, so it loads models from the Hub")),
    # Hub tab: repo ids and card fields
    "export-repo-traversal": (_call("/export", "../../etc/passwd", "", ""),
                              Refused(HubError, "Received: '../../etc/passwd': it has 3 '/'")),
    "export-dataset-traversal": (_call("/export", "", "../../x", ""),
                                 Refused(HubError, "or nothing for your own data. Received: '../../x'")),
    "export-example-100k": (_call("/export", "", "", LONG),
                            Refused(DataError, "Expected the widget example to have at most 20,000")),
    "push-repo-dotdot": (_call("/push", "me/..", "", True),
                         Refused(HubError, "Received: 'me/..': a part starts or ends with '-' or '.'")),
    "push-repo-markup": (_call("/push", "me/<script>", "", True),
                         Refused(HubError, "it contains '<>'; only letters, digits")),
    "push-repo-url": (_call("/push", "https://huggingface.co/me/x", "", True),
                      Refused(HubError, "it contains ':' (a URL")),
}


def _health(client: Client) -> None:
    """The server still answers: the page, the API description, and a real prediction through the queue."""
    with urllib.request.urlopen(client.src, timeout=30) as response:
        assert response.status == 200
    assert client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert client.predict("a fine movie", api_name="/predict")["label"] in CLASSES


@pytest.fixture
def raised(monkeypatch) -> list[Exception]:
    """The exceptions the UI's handlers turn into messages during a test (``kdemo.ui.errors._to_gr_error`` is
    where every one passes; the server runs in this process)."""
    seen: list[Exception] = []
    convert = ui_errors._to_gr_error

    def spy(exc):
        seen.append(exc)
        return convert(exc)

    monkeypatch.setattr(ui_errors, "_to_gr_error", spy)
    return seen


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_input_gets_its_expected_outcome_and_the_server_stays_up(
    case, client, predictor_dir, other_session_model, tmp_path, monkeypatch, caplog, raised
):
    run, expected = CASES[case]
    with caplog.at_level(logging.ERROR, logger="kdemo.ui"):
        message = run(Ctx(client, tmp_path, predictor_dir, other_session_model, monkeypatch))
    if isinstance(expected, Refused):
        assert [type(e) for e in raised] == [expected.error], (raised, message[:500])
        assert expected.phrase in message, message[:2000]
        assert message.startswith("Expected "), message[:300]  # kdemo's "Expected …. Received: …." form
        assert str(raised[0]) in message  # shown as raised
    else:
        assert raised == [], raised
        for phrase in expected.phrases:
            assert phrase in message, (phrase, message[:2000])
        if expected.trainable is not None:
            assert message.startswith("✅" if expected.trainable else "⚠️"), message[:300]
    assert "Something went wrong" not in message and "Traceback" not in message
    assert not [r for r in caplog.records if r.name == "kdemo.ui"], caplog.text  # no unexpected error in a handler
    _health(client)


def test_a_session_may_load_its_own_model_folder(client, predictor_dir):
    own = STORE.get(type("Request", (), {"session_hash": client.session_hash})()).workdir / "model"
    assert "Loaded" in client.predict(str(own), api_name="/load_model")[0]
    assert "Loaded" in client.predict(str(predictor_dir), api_name="/load_model")[0]  # and, off Spaces, any folder
