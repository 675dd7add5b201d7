"""The migrations build exactly the schema the models describe, on both databases."""

import warnings

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from solarfleet.migrate import current_revision, head_revision, upgrade
from solarfleet.models import metadata


def test_migrated_schema_matches_the_models(database):
    with database.engine.connect() as connection, warnings.catch_warnings():
        # SQLite cannot reflect the expression index on lower(email); PostgreSQL compares it.
        warnings.simplefilter("ignore")
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata)
    assert differences == []


def test_upgrade_is_idempotent_and_reaches_head(database):
    assert current_revision(database.engine) == head_revision()
    assert upgrade(database.engine) == (head_revision(), head_revision())
