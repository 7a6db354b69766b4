"""Alembic migrations for the Cooldown database (run programmatically by `Store.open`)."""
