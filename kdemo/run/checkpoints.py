"""A run's resume checkpoints as the front doors see them: the folder name inside a checkpoint folder and the
reader of its state (steps, losses, validation points). See :mod:`kdemo.training.checkpoint_state`."""

from kdemo.training.checkpoint_state import RESUME_DIR, read_state

__all__ = ["RESUME_DIR", "read_state"]
