"""exchange: a limit-order-book exchange server."""

__version__ = "0.1.0"
