"""The REST door. FastAPI stays inside this package."""

from sandbox.api.app import create_app

__all__ = ["create_app"]
