"""Evaluation: frozen-feature extraction and probes."""
