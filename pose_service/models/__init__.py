"""Neural network models the service runs, one sub-package per model (weights are loaded, never trained here)."""
