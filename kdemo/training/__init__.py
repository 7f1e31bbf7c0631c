"""Training: the ktrain-style :class:`~kdemo.training.learner.Learner` on Keras ``fit``, its optimizer, schedule
maths, LR finder, and one module per callback under :mod:`kdemo.training.callbacks`."""
