"""Sandboxed code execution: validate untrusted code, run it in one-shot hardened containers."""

__version__ = "0.1.0"
