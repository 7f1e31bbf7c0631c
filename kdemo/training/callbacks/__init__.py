"""Keras callbacks of the kdemo training loop, one per file."""

from kdemo.training.callbacks.lr_finder import LRFinder
from kdemo.training.callbacks.one_cycle import OneCycle
from kdemo.training.callbacks.progress import ProgressEvent, ProgressReporter
from kdemo.training.callbacks.stop_request import StopRequest
from kdemo.training.callbacks.training_dynamics import TrainingDynamics

__all__ = ["LRFinder", "OneCycle", "ProgressEvent", "ProgressReporter", "StopRequest", "TrainingDynamics"]
