"""Entry point of ``python -m kdemo`` (see :mod:`kdemo.cli`)."""

from kdemo.cli import main

raise SystemExit(main())
