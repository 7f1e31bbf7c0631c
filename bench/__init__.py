"""kdemo benchmarks: side-by-side runs against reference implementations (see bench/README.md)."""

import os

# `python -m bench.x` imports this package first: choose Keras' torch backend before any module imports keras
# (kdemo/__init__.py does the same, but a bench module may import keras before kdemo).
os.environ.setdefault("KERAS_BACKEND", "torch")
