"""Offline metrics: plain functions on numpy arrays (no hub downloads, no `evaluate.load`)."""

from .classification import classification_metrics

__all__ = ["classification_metrics"]
