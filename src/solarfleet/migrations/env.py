"""Alembic environment: runs on the connection that `solarfleet.migrate.upgrade` hands over."""

from __future__ import annotations

from alembic import context

from solarfleet.models import metadata


def run(connection) -> None:
    # Batch mode lets ALTER TABLE work on SQLite, which cannot alter columns in place.
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


run(context.config.attributes["connection"])
