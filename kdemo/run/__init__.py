"""One training run, owned in one place: a validated :class:`~kdemo.run.config.TrainConfig` goes in,
:func:`~kdemo.run.train.train` runs it, a :class:`~kdemo.run.result.TrainResult` comes out.

Each task's data is read once by its pipeline (:mod:`kdemo.run.pipeline`) into a :class:`~kdemo.run.data.RunData`;
the doors (the app, the CLI, Python) hand that to :func:`train`.
"""

from kdemo.run.config import TrainConfig
from kdemo.run.data import RunData
from kdemo.run.lr_find import LRFindResult, lr_find
from kdemo.run.pipeline import pipeline_for, prepare, read_data
from kdemo.run.result import TrainResult, load_result
from kdemo.run.train import planned_steps, train
from kdemo.training.callbacks import ProgressEvent, ProgressReporter

__all__ = ["LRFindResult", "ProgressEvent", "ProgressReporter", "RunData", "TrainConfig", "TrainResult", "load_result", "lr_find",
           "pipeline_for", "planned_steps", "prepare", "read_data", "train"]
