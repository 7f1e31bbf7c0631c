"""One training run, owned in one place: a validated :class:`~kdemo.run.config.TrainConfig` goes in,
:func:`~kdemo.run.train.train` runs it, a :class:`~kdemo.run.result.TrainResult` comes out."""
