"""rrm-eval: evaluation harness and training kit for generative reasoning reward models."""

__version__ = "0.1.0"
