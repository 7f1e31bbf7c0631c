"""Keras callbacks of the kdemo training loop, one per file."""

from kdemo.callbacks.lr_finder import LRFinder
from kdemo.callbacks.one_cycle import OneCycle
from kdemo.callbacks.progress import ProgressEvent, ProgressReporter
from kdemo.callbacks.stop_request import StopRequest

__all__ = ["LRFinder", "OneCycle", "ProgressEvent", "ProgressReporter", "StopRequest"]
