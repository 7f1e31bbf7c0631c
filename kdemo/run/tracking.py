"""Where trackio keeps its projects: the app puts them in its ``--data-dir``; its dashboard reads the same folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def set_tracking_dir(folder: str | os.PathLike) -> Path:
    """Make trackio keep its projects in ``folder`` (the app's ``--data-dir``/``trackio``).

    trackio reads ``TRACKIO_DIR`` once, when it is imported, so this must run before the first tracked run.

    Args:
        folder: The folder (created if missing).

    Returns:
        The folder, absolute.

    Raises:
        RuntimeError: If trackio was already imported with another folder.
    """
    path = Path(folder).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    if "trackio" in sys.modules:
        from trackio.utils import TRACKIO_DIR

        if Path(TRACKIO_DIR).resolve() != path:
            raise RuntimeError(f"Expected trackio not to be imported yet. Received: it keeps its runs in {TRACKIO_DIR}; "
                               f"call set_tracking_dir({str(path)!r}) before the first tracked run.")
    os.environ["TRACKIO_DIR"] = str(path)
    return path


def tracking_dir() -> Path:
    """The folder trackio keeps its projects in (``TRACKIO_DIR``, else trackio's default)."""
    if os.environ.get("TRACKIO_DIR"):
        return Path(os.environ["TRACKIO_DIR"])
    from trackio.utils import TRACKIO_DIR

    return Path(TRACKIO_DIR)
