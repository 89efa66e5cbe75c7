"""Layerwise for PyTorch: the per-layer diagnostics of the Layerwise panel, written from a real
(and distributed) PyTorch training run. See ``watch``."""
from ._non_finite import NonFiniteError
from ._run import Run, watch

__version__ = "0.1.0"
__all__ = ["watch", "Run", "NonFiniteError", "__version__"]
