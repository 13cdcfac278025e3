"""Figures a test measures and shows after the run (``tests/conftest.py`` prints them in a
"figures" section of the summary). A test's own print would be lost: the suite runs in
pytest-xdist workers, whose output pytest does not show.

    def test_x(record_property):
        record_property(FIGURE, "[recovery] max publish->committed 679 ms")
"""

from __future__ import annotations

__all__ = ["FIGURE"]

#: the ``record_property`` name of a figure
FIGURE = "figure"
