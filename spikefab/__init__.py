"""spikefab: a generator of digital neuromorphic hardware for FPGAs."""

__version__ = "0.1.0"
