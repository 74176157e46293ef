"""byol-bench: a faithful, workflow-driven reproduction of BYOL (Grill et al., 2020)."""

__version__ = "0.1.0"
