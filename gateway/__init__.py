"""lpd-ipp-gateway: a bidirectional LPR/LPD <-> IPP print gateway."""

__version__ = "0.1.0"
