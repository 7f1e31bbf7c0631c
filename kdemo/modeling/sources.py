"""Which model a user's string names, and whether kdemo may load it: Hub ids, local folders and their policy.

A model name is either a local folder (with ``config.json``) or a Hugging Face Hub id (``name`` or ``org/name``).
Both are checked before anything is read or downloaded:

* Hub ids must be well formed (letters, digits, ``-``, ``_``, ``.``; at most one ``/``; 96 characters a part); the
  message says what is wrong with a bad one (spaces, a URL, a null byte, a third part…).
* A string that looks like a path (``..``, a leading ``/`` or ``~``, ``\\``, percent-encoded dots or slashes) must
  be an existing model folder; otherwise it is refused as such, never guessed at.
* Local folders follow a :class:`FolderPolicy`: the app passes the session's own working folder and the folder
  holding all sessions' folders, so that no session loads a folder inside another session's working folder, and
  on a shared server (a Hugging Face Space) it refuses local folders other than the session's own altogether.
  Even without a policy, folders under a ``kdemo-session*`` folder (the app's session folders) are refused.
* A folder whose ``config.json`` (or ``tokenizer_config.json``) asks for custom code (``auto_map``,
  ``trust_remote_code``) is refused: kdemo never runs code shipped with a model. Weights are read from safetensors
  only (:func:`require_safetensors`); pickles are never opened.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from kdemo.errors import ModelError

#: Name prefix of the app's session folders (``kdemo-session-…`` or ``kdemo-sessions-…/s-…``, from ``mkdtemp``).
SESSION_FOLDER_PREFIX = "kdemo-session"
#: Longest model name (a Hub id or a folder path) looked at; longer strings are refused unread.
MAX_MODEL_NAME_CHARS = 1_000
_HUB_PART_CHARS = 96
_CONFIG_MAX_BYTES = 1 << 20
_CUSTOM_CODE_KEYS = ("auto_map", "custom_pipelines", "trust_remote_code")
_ID_EXAMPLES = "'distilbert-base-uncased' or 'org/name'"


@dataclass(frozen=True)
class FolderPolicy:
    """Which local folders a model name may point to; validated on construction.

    Attributes:
        allow_local: Whether folders outside ``own_folder`` may be loaded. Turn off on a shared server (such as a
            Hugging Face Space), where the disk holds the app's and other people's files; Hub ids still work.
        own_folder: The caller's own working folder (the UI session's); folders inside it are always allowed.
        sessions_root: The folder holding every session's working folder (the app's session store); a folder
            inside it but not inside ``own_folder`` belongs to another visitor and is refused.
        session_prefix: Name prefix of session folders, refused likewise wherever they are (a safety net for
            callers that pass no ``sessions_root``).

    Raises:
        TypeError: If a field has the wrong type.

    Example:
        >>> policy = FolderPolicy(allow_local=False, own_folder=session.workdir, sessions_root=store.root)
        >>> resolve_model_source("/etc", policy=policy)  # ModelError: local folders are not loaded here
    """

    allow_local: bool = True
    own_folder: Path | None = None
    sessions_root: Path | None = None
    session_prefix: str = SESSION_FOLDER_PREFIX

    def __post_init__(self):
        if not isinstance(self.allow_local, bool):
            raise TypeError(f"Expected allow_local to be True or False. Received: {self.allow_local!r}.")
        for name in ("own_folder", "sessions_root"):
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, (str, Path)):
                raise TypeError(f"Expected {name} to be a folder path or None. Received: {value!r}.")
            object.__setattr__(self, name, Path(value).expanduser().resolve())
        if not isinstance(self.session_prefix, str) or not self.session_prefix:
            raise TypeError(f"Expected session_prefix to be a non-empty string. Received: {self.session_prefix!r}.")

    def is_own(self, path: Path) -> bool:
        """Whether the resolved ``path`` lies inside :attr:`own_folder`."""
        return self.own_folder is not None and path.is_relative_to(self.own_folder)

    def other_session(self, path: Path) -> bool:
        """Whether the resolved ``path`` lies inside a session working folder other than :attr:`own_folder`."""
        if self.is_own(path):
            return False
        in_root = self.sessions_root is not None and path.is_relative_to(self.sessions_root)
        return in_root or any(p.startswith(self.session_prefix) for p in path.parts)


DEFAULT_POLICY = FolderPolicy()


def shown(name: str, limit: int = 80) -> str:
    """``repr`` of a user's string for a message, shortened to ``limit`` characters with its length."""
    if len(name) <= limit:
        return repr(name)
    return f"{name[:limit]!r}… ({len(name):,} characters)"


def hub_id_problem(name: str, *, namespace_required: bool = False) -> str | None:
    """Why ``name`` is not a valid Hugging Face Hub repo id, or None when it is one.

    Args:
        name: The id, stripped.
        namespace_required: Require the ``user-or-org/name`` form (as for pushing).

    Returns:
        A short reason for a message (``"it contains spaces"``), or None.
    """
    if not name:
        return "it is empty"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "it contains control characters (such as a null byte)"
    if len(name) > 2 * _HUB_PART_CHARS + 1:
        return f"it is {len(name):,} characters long; an id has at most {_HUB_PART_CHARS} characters per part"
    if ":" in name:
        return "it contains ':' (a URL or a scheme such as 'https:'); give the id only, like 'org/name'"
    if any(c.isspace() for c in name):
        return "it contains spaces"
    parts = name.split("/")
    if len(parts) > 2:
        return f"it has {len(parts) - 1} '/'; an id has at most one, between the owner and the name"
    if namespace_required and len(parts) < 2:
        return "it has no owner; put your username or organisation first, like 'your-username/name'"
    for part in parts:
        if not part:
            return "it has an empty part (a leading, trailing or doubled '/')"
        bad = sorted(set(re.sub(r"[A-Za-z0-9._-]", "", part)))
        if bad:
            return f"it contains {''.join(bad)!r}; only letters, digits, '-', '_' and '.' are allowed"
        if len(part) > _HUB_PART_CHARS:
            return f"a part is {len(part)} characters long; at most {_HUB_PART_CHARS} are allowed"
        if part[0] in "-." or part[-1] in "-.":
            return "a part starts or ends with '-' or '.'"
        if ".." in part or "--" in part:
            return "it contains '..' or '--'"
    return None


def path_reason(name: str) -> str | None:
    """Why ``name`` looks like a file path rather than a Hub id, or None."""
    if name.startswith(("/", "~")):
        return f"it starts with {name[0]!r}"
    if ".." in name:
        return "it contains '..'"
    if name.startswith("."):
        return "it starts with '.'"
    if "\\" in name:
        return "it contains '\\' (a Windows path)"
    if re.search(r"%(2e|2f|5c)", name, re.IGNORECASE):
        return "it contains a percent-encoded '.', '/' or '\\'"
    if re.match(r"^[A-Za-z]:[\\/]", name):
        return "it starts with a drive letter"
    return None


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):  # a name too long for the file system, or an embedded null byte
        return False


def local_model_folder(name: str, policy: FolderPolicy = DEFAULT_POLICY) -> Path | None:
    """The local model folder ``name`` points to, checked; None when it names no folder (so: a Hub id).

    Args:
        name: The user's string, stripped.
        policy: Which folders may be loaded.

    Returns:
        The folder (as given, not resolved), or None when ``name`` is not an existing folder and does not look
        like a path; also None, without looking at the disk, for a plain id-like name when ``policy`` allows no
        local folders (on a Space, ``bert-base-uncased`` is a Hub id even if such a folder exists).

    Raises:
        ModelError: If the folder is refused by ``policy``, has no (valid) ``config.json``, or asks for custom
            code; or if ``name`` looks like a path but is not a folder.
    """
    if len(name) > MAX_MODEL_NAME_CHARS or any(ord(c) < 32 for c in name):
        return None  # refused with the reason by hub_id_problem
    reason = path_reason(name)
    path = Path(name).expanduser()
    if not policy.allow_local:
        if reason is None:
            return None
        real = path.resolve() if _is_dir(path) else None
        if real is None or not policy.is_own(real):
            raise ModelError(
                f"Expected a Hugging Face Hub model id like {_ID_EXAMPLES}. Received: {shown(name)}, a local path: "
                "this server is shared, so it loads models from the Hub (or the model of your own session) and "
                "never from its disk. Give the model's Hub id."
            )
    if not _is_dir(path):
        if reason is None:
            return None
        what = "a file, not a folder" if path.is_file() else "not a folder here"
        raise ModelError(
            f"Expected a Hugging Face Hub model id like {_ID_EXAMPLES}, or an existing local folder. Received: "
            f"{shown(name)}, which looks like a file path ({reason}) but is {what}. Give the folder that holds "
            "config.json (paths are not guessed at), or a Hub id."
        )
    if policy.other_session(path.resolve()):
        raise ModelError(
            f"Expected a Hub model id or a folder of your own. Received: {shown(name)}, which is inside another "
            "session's working folder: each visitor's files are private. Load your own model, or a Hub id."
        )
    check_model_folder(path, name)
    return path


def check_model_folder(folder: Path, source: str) -> None:
    """Refuse a model folder without a valid ``config.json``, or one that asks for custom code.

    Args:
        folder: The folder (local, or a Hub download).
        source: What the user typed, for messages.

    Raises:
        ModelError: Naming the problem and what to do.
    """
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise ModelError(
            f"Expected a model folder with a config.json (as written by save_pretrained). Received: "
            f"{shown(source)}, which has no config.json. Point to the folder that holds config.json."
        )
    for file in (config_file, folder / "tokenizer_config.json"):
        if not file.is_file():
            continue
        if file.stat().st_size > _CONFIG_MAX_BYTES:
            raise ModelError(f"Expected a small {file.name} (at most 1 MiB). Received: {file.stat().st_size:,} "
                             f"bytes in {shown(source)}. This is not a model configuration.")
        try:
            config = json.loads(file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"Expected {file.name} in {shown(source)} to be JSON. Received: a file that is not "
                             f"({exc}). Save the model again with save_pretrained.") from None
        if not isinstance(config, dict):
            raise ModelError(f"Expected {file.name} in {shown(source)} to hold a JSON object. Received: "
                             f"{type(config).__name__}.")
        asks = [key for key in _CUSTOM_CODE_KEYS if config.get(key)]
        if asks:
            raise ModelError(
                f"Expected a model of a standard transformers architecture. Received: {shown(source)}, whose "
                f"{file.name} asks for custom Python code ({', '.join(asks)}). kdemo never runs code shipped with a "
                "model (trust_remote_code stays off). Pick a checkpoint that loads without custom code."
            )


def require_safetensors(folder: Path, source: str) -> None:
    """Refuse a model folder whose weights are not in safetensors files (pickles are never opened).

    Raises:
        ModelError: If the folder holds no ``*.safetensors`` file.
    """
    if not any(folder.glob("*.safetensors")):
        pickles = sorted(p.name for p in folder.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt", ".pkl"))
        found = f"only pickle files ({', '.join(pickles[:3])})" if pickles else "no weights"
        raise ModelError(
            f"Expected safetensors weights in {shown(source)}. Received: {found}. kdemo does not load pickles "
            "because loading them can run code; pick a checkpoint that has model.safetensors, or convert it with "
            "save_pretrained(..., safe_serialization=True) where you trust it."
        )
