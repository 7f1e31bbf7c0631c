"""Spaces readiness: the README header is a complete Space configuration; the app listens and queues as Spaces need."""

from __future__ import annotations

import re
from pathlib import Path

import gradio
import pytest
import yaml
from huggingface_hub import SpaceHardware
from packaging.specifiers import SpecifierSet

from kdemo import DEFAULT_MODEL_ID, ui

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")
SPACE_COLORS = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}


@pytest.fixture(scope="module")
def header() -> dict:
    assert README.startswith("---\n")
    return yaml.safe_load(README.split("---\n", 2)[1])


def test_readme_header_is_a_complete_space_config(header):
    assert header["sdk"] == "gradio" and header["sdk_version"] == gradio.__version__  # the version tested here
    assert (REPO / header["app_file"]).is_file()
    python = str(header["python_version"])
    assert re.fullmatch(r"3\.\d+", python)
    requires = re.search(r'requires-python = "([^"]+)"', (REPO / "pyproject.toml").read_text()).group(1)
    assert python in SpecifierSet(requires)
    assert header["colorFrom"] in SPACE_COLORS and header["colorTo"] in SPACE_COLORS
    assert header["title"] and header["emoji"] and len(header["short_description"]) <= 60
    hardware = header["suggested_hardware"]
    assert hardware in {h.value for h in SpaceHardware} and not hardware.startswith(("cpu", "zero"))
    assert header["models"] == [DEFAULT_MODEL_ID]


def test_readme_header_enables_sign_in_with_write_scopes(header):
    assert header["hf_oauth"] is True
    assert {"write-repos", "manage-repos", "read-repos"} <= set(header["hf_oauth_scopes"])
    assert not {"openid", "profile"} & set(header["hf_oauth_scopes"])  # always granted; listing them is an error
    assert 1 <= header["hf_oauth_expiration_minutes"] <= 43200


def test_readme_keeps_its_structure_and_has_the_gpu_space_section():
    body = README.split("---\n", 2)[2]
    intro = body.split("\n## ", 1)[0]
    assert intro.lstrip().startswith("# kdemo") and "![" in intro
    assert intro.count("```bash") == 2  # exactly two command blocks: run the app, run the tests
    assert intro.index("![") < intro.index("```bash")
    section = body.split("## Run on a GPU Space", 1)[1].split("\n## ", 1)[0]
    for needed in ("T4 small", "ZeroGPU", "gradio #10148", "@spaces.GPU", "one device queue", "their position",
                   "Sign in with Hugging Face", "HF_TOKEN", "private", "--share"):
        assert needed in section, needed


def _launch_kwargs(monkeypatch, argv) -> dict:
    seen = {}

    class FakeApp:
        def __init__(self, data_dir=None):
            seen["data_dir"] = data_dir

        def launch(self, **kwargs):
            seen.update(kwargs)

    monkeypatch.setattr(ui, "build_app", FakeApp)
    ui.main(argv)
    return seen


def test_main_listens_where_spaces_expects(monkeypatch):
    for name in ("GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT", "SYSTEM", "SPACE_ID"):
        monkeypatch.delenv(name, raising=False)
    local = _launch_kwargs(monkeypatch, ["--share"])
    assert (local["server_name"], local["server_port"], local["share"]) == ("127.0.0.1", 7860, True)
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7861")
    monkeypatch.setenv("SYSTEM", "spaces")
    monkeypatch.setenv("SPACE_ID", "someone/kdemo")
    space = _launch_kwargs(monkeypatch, ["--share"])
    assert (space["server_name"], space["server_port"]) == ("0.0.0.0", 7861)
    assert space["share"] is False  # no gradio.live link from a Space
    assert _launch_kwargs(monkeypatch, ["--host", "127.0.0.2"])["server_name"] == "127.0.0.2"


def test_training_runs_on_the_device_queue_not_in_gradio_workers():
    """Train and the LR finder queue jobs on the single-worker device queue (see tests/test_jobs.py and the
    two-session browser test); their Gradio events, like polling and Stop, never hold one of Gradio's worker slots."""
    from kdemo.ui.session import DEVICE_QUEUE

    demo = ui.build_app()
    fns = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name}
    for name in ("train", "lr_find", "training_status", "stop"):
        assert fns[name].concurrency_limit is None, name
    assert demo._queue.default_concurrency_limit == ui.DEFAULT_CONCURRENCY and demo._queue.max_size == ui.QUEUE_SIZE
    assert fns["push"].concurrency_limit == "default"
    assert fns["predict"].concurrency_limit is None  # waits in the micro-batcher (tests/test_serve.py)
    assert DEVICE_QUEUE.name == "kdemo-device"


def test_app_py_is_the_spaces_entry_point():
    source = (REPO / "app.py").read_text()
    assert "from kdemo.ui import main" in source and 'if __name__ == "__main__":' in source
