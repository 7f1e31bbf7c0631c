"""Subcommands of ``python -m kdemo`` beyond training and prediction (:mod:`kdemo.cli` wires them in): ``evaluate``
and ``compare`` (:mod:`kdemo.commands.evaluate`), ``publish-space`` (:mod:`kdemo.commands.space`)."""
