"""flake8-tensorview: find ``.view()`` calls that cannot work on non-contiguous tensors."""

__version__ = "0.1.0"
