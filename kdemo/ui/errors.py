"""The one place where kdemo's errors become ``gr.Error`` (a message box in the browser, no traceback)."""

from __future__ import annotations

import functools
import inspect
import logging

import gradio as gr

from kdemo.errors import KdemoError

log = logging.getLogger("kdemo.ui")


def _to_gr_error(exc: Exception) -> gr.Error:
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, KdemoError):
        return gr.Error(str(exc), title="Please check your input", print_exception=False)
    log.exception("unexpected error in a UI handler")
    return gr.Error(
        f"Something went wrong ({type(exc).__name__}: {str(exc)[:300]}). Your data and model are still here; "
        "please try again or change the settings.",
        title="Unexpected error",
        print_exception=False,
    )


def user_errors(fn):
    """Wrap a Gradio handler so every exception reaches the user as ``gr.Error`` and the server stays up.

    ``KdemoError`` messages (which say what was expected, what was received and what to do) are shown as they
    are; anything else is logged with its traceback on the server and shown as a short message. Works for plain
    functions, coroutine functions and generators; the wrapped signature is kept (Gradio injects ``gr.Request``/``gr.Progress`` by it).
    """
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args, **kwargs):
            try:
                return await fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - the UI boundary: everything becomes a message
                raise _to_gr_error(exc) from None

        return async_wrapper

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - the UI boundary: everything becomes a message
                raise _to_gr_error(exc) from None

        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the UI boundary: everything becomes a message
            raise _to_gr_error(exc) from None

    return wrapper
