"""Alembic's script directory of the store: ``env.py`` and the revisions under ``versions/`` (run by ``schema``)."""
