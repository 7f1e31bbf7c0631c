"""Crash-safe artifact writes: write beside the destination, make it durable, then rename it into place.

A folder (a saved predictor, a checkpoint) is written to a hidden temporary sibling ``.<name>.tmp-<pid>-<token>``,
its files and folders are fsynced, and it replaces the destination in one step. On Linux that step is
``renameat2(RENAME_EXCHANGE)``: the old and new folders swap names atomically, so the destination always holds
either the old artifact or the new one, whatever moment the process is killed at. Where the exchange is not
available (another OS, or a filesystem that answers ``EINVAL``/``ENOSYS``), a three-rename fallback is used:

1. ``.<name>.tmp-…`` → ``.<name>.new-…`` (the ``new`` name marks a complete, fsynced folder),
2. ``<name>`` → ``.<name>.old-…`` (from here until step 3 the destination is missing),
3. ``.<name>.new-…`` → ``<name>``.

A kill between steps 2 and 3 is repaired by :func:`recover`, which :func:`kdemo.inference.predictor.load_predictor` and the
next save call: the complete ``new`` folder (else the ``old`` one) is renamed back into place. Leftover siblings of
dead processes (killed saves) are deleted by the next save of the same destination.

A single file is written to ``.<name>.tmp-<pid>-<token><suffix>`` in the same folder, fsynced and moved over the
destination with ``os.replace`` (atomic on POSIX and Windows).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import secrets
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

AT_FDCWD = -100
RENAME_EXCHANGE = 2
#: errno values meaning "this system or filesystem cannot exchange": use the three-rename fallback.
UNSUPPORTED = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EPERM})

_ACTIVE: set[str] = set()  # tokens of this process's writes in progress (their siblings are not stale)
_LOCK = threading.Lock()
_RENAMEAT2 = None


def _renameat2():
    """libc's ``renameat2``, or None where there is none (non-Linux, old glibc)."""
    global _RENAMEAT2
    if _RENAMEAT2 is None:
        func = False
        if sys.platform.startswith("linux"):
            try:
                func = ctypes.CDLL(None, use_errno=True).renameat2
                func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
                func.restype = ctypes.c_int
            except (OSError, AttributeError):
                func = False
        _RENAMEAT2 = func
    return _RENAMEAT2 or None


def exchange(a: str | os.PathLike, b: str | os.PathLike) -> None:
    """Swap the names of two existing paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``).

    Raises:
        OSError: ``ENOSYS`` where the call does not exist; the kernel's errno otherwise (``EINVAL`` when the
            filesystem does not support the exchange).
    """
    func = _renameat2()
    if func is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available on this system")
    if func(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(a), None, str(b))


def _rename(src: Path, dst: Path) -> None:
    """One step of the fallback swap (a seam for crash tests)."""
    os.replace(src, dst)


def _fsync_path(path: Path, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:
            return  # Windows cannot open folders; their entries are durable with the files
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """fsync every file and folder under ``folder`` (and ``folder`` itself), so a rename publishes durable data."""
    for root, dirs, files in os.walk(folder):
        for name in files:
            if not os.path.islink(os.path.join(root, name)):
                _fsync_path(Path(root, name))
        for name in dirs:
            _fsync_path(Path(root, name), directory=True)
    _fsync_path(folder, directory=True)


def _remove(path: Path) -> None:
    """Delete a file or folder that may or may not exist."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _sibling_pattern(dest: Path) -> re.Pattern:
    return re.compile(rf"^\.{re.escape(dest.name)}\.(tmp|new|old)-(\d+)(?:-([0-9a-f]+))?(?:\..*)?$")


def _sibling(dest: Path, kind: str, token: str, suffix: str = "") -> Path:
    return dest.with_name(f".{dest.name}.{kind}-{token}{suffix}")


def _new_token() -> str:
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    with _LOCK:
        _ACTIVE.add(token)
    return token


def _done(token: str) -> None:
    with _LOCK:
        _ACTIVE.discard(token)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process (or no way to tell): leave its files alone
    return True


def _left_over(dest: Path) -> list[tuple[str, Path]]:
    """``(kind, path)`` of the siblings of ``dest`` left by writes that are no longer running, newest first."""
    pattern = _sibling_pattern(dest)
    found = []
    try:
        entries = list(dest.parent.iterdir())
    except OSError:
        return []
    for path in entries:
        match = pattern.match(path.name)
        if not match:
            continue
        kind, pid, token = match.group(1), int(match.group(2)), match.group(3)
        if pid == os.getpid():
            with _LOCK:
                if f"{pid}-{token}" in _ACTIVE:
                    continue
        elif _pid_alive(pid):
            continue
        with contextlib.suppress(OSError):
            found.append((path.lstat().st_mtime_ns, kind, path))
    return [(kind, path) for _, kind, path in sorted(found, reverse=True)]


def recover(dest: str | os.PathLike) -> Path | None:
    """Put back a folder that a killed fallback swap left beside ``dest`` while ``dest`` itself is missing.

    The newest complete ``.<name>.new-…`` folder is preferred (the save had finished writing), else the newest
    ``.<name>.old-…`` (the previous artifact). Siblings of running processes are left alone.

    Args:
        dest: The artifact's path.

    Returns:
        ``dest`` when it was restored; the sibling itself when it could not be renamed (read-only folder); None
        when ``dest`` exists or nothing can be restored.
    """
    dest = Path(dest)
    if os.path.lexists(dest):
        return None
    left = _left_over(dest)
    for kind in ("new", "old"):
        for found_kind, path in left:
            if found_kind != kind:
                continue
            try:
                os.rename(path, dest)
            except FileExistsError:
                return None  # restored meanwhile by someone else
            except OSError:
                if os.path.lexists(dest):
                    return None
                return path
            _fsync_path(dest.parent, directory=True)
            return dest
    return None


def clean_stale(dest: str | os.PathLike) -> None:
    """Delete temporary siblings of ``dest`` left by earlier writes that were killed (not by running ones)."""
    for _, path in _left_over(Path(dest)):
        _remove(path)


def _swap_fallback(tmp: Path, dest: Path, token: str) -> None:
    new = _sibling(dest, "new", token)
    old = _sibling(dest, "old", token)
    _rename(tmp, new)  # the "new" name says: complete and durable
    _fsync_path(dest.parent, directory=True)
    try:
        _rename(dest, old)
        _rename(new, dest)
    except BaseException:
        if not os.path.lexists(dest):  # interrupted in between: put the previous artifact back (else the new one)
            for candidate in (old, new):
                if os.path.lexists(candidate):
                    with contextlib.suppress(OSError):
                        os.rename(candidate, dest)
                        break
        if os.path.lexists(dest):
            _remove(new)
            _remove(old)
        raise
    _fsync_path(dest.parent, directory=True)
    _remove(old)


def replace_folder(tmp: str | os.PathLike, dest: str | os.PathLike, token: str | None = None) -> None:
    """Move the complete folder ``tmp`` to ``dest``, replacing what is there without a moment of absence.

    Args:
        tmp: A fsynced folder in the same parent as ``dest``.
        dest: The destination (a folder or file, or missing).
        token: The write's token (names the fallback's siblings); a fresh one when None.
    """
    tmp, dest = Path(tmp), Path(dest)
    own = token is None
    token = token or _new_token()
    try:
        if not os.path.lexists(dest):
            try:
                os.rename(tmp, dest)
                _fsync_path(dest.parent, directory=True)
                return
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                    raise  # else: created meanwhile, so swap with it
        try:
            exchange(tmp, dest)
        except OSError as exc:
            if exc.errno not in UNSUPPORTED:
                raise
            _swap_fallback(tmp, dest, token)
            return
        _fsync_path(dest.parent, directory=True)
        _remove(tmp)  # now the previous artifact
    finally:
        if own:
            _done(token)


@contextlib.contextmanager
def atomic_folder(dest: str | os.PathLike) -> Iterator[Path]:
    """Write a folder beside ``dest`` and swap it into place when the block ends without an exception.

    Example:
        >>> with atomic_folder("out/model") as tmp:
        ...     model.save_pretrained(tmp)

    Args:
        dest: The folder to create or replace (its parent is created).

    Yields:
        An empty temporary folder in the same parent. On success its content becomes ``dest``; on an exception
        it is deleted and ``dest`` is left as it was.
    """
    dest = Path(os.path.abspath(Path(dest).expanduser()))
    dest.parent.mkdir(parents=True, exist_ok=True)
    recover(dest)
    clean_stale(dest)
    token = _new_token()
    tmp = _sibling(dest, "tmp", token)
    try:
        tmp.mkdir()
        yield tmp
        fsync_tree(tmp)
        replace_folder(tmp, dest, token)
    finally:
        _remove(tmp)
        _done(token)


@contextlib.contextmanager
def atomic_file(dest: str | os.PathLike) -> Iterator[Path]:
    """Write a file beside ``dest`` and ``os.replace`` it into place when the block ends without an exception.

    Args:
        dest: The file to create or replace (its folder is created).

    Yields:
        A path in the same folder, ending in ``dest``'s suffix, for the writer to create. On success it becomes
        ``dest``; on an exception it is deleted and ``dest`` is left as it was.
    """
    dest = Path(os.path.abspath(Path(dest).expanduser()))
    dest.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(dest)
    token = _new_token()
    tmp = _sibling(dest, "tmp", token, dest.suffix)
    try:
        yield tmp
        _fsync_path(tmp)
        os.replace(tmp, dest)
        _fsync_path(dest.parent, directory=True)
    finally:
        _remove(tmp)
        _done(token)


def write_bytes(dest: str | os.PathLike, data: bytes) -> Path:
    """Atomically replace ``dest`` with ``data`` (see :func:`atomic_file`). Returns ``dest``."""
    with atomic_file(dest) as tmp:
        tmp.write_bytes(data)
    return Path(dest)


def write_text(dest: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Atomically replace ``dest`` with ``text`` (newlines written as they are). Returns ``dest``."""
    return write_bytes(dest, text.encode(encoding))
