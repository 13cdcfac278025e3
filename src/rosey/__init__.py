"""Rosey: a moderation-and-stats bot stack for CyTube channels."""

__version__ = "0.1.0"
