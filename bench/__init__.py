"""Rosey's benchmarks (not part of the test suite): ``.venv/bin/python -m bench --help``."""
