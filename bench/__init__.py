"""kdemo benchmarks: side-by-side runs against reference implementations (see bench/README.md)."""
