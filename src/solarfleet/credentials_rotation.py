"""Re-encrypting stored credentials under the newest key, so the keys after it can be dropped.

Device credentials live encrypted in two places: each device's connection settings, and the details
a customer typed in the Connect UI while the session waits for consent and the check.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Column, bindparam, func, select, update

from solarfleet.credentials_cipher import CredentialsCipher, CredentialsUnreadable
from solarfleet.database import Database
from solarfleet.monitoring.models import DeviceConnection
from solarfleet.onboarding.models import OnboardingSession

ROTATION_BATCH = 500

# (row key, encrypted column) of every place credentials are stored.
ENCRYPTED_COLUMNS: tuple[tuple[Column, Column], ...] = (
    (DeviceConnection.__table__.c.inverter_id, DeviceConnection.__table__.c.settings_ciphertext),
    (OnboardingSession.__table__.c.id, OnboardingSession.__table__.c.pending_settings_ciphertext),
)


@dataclass(slots=True)
class CredentialRotation:
    """What re-encrypting the credentials did."""

    rotated: int = 0
    # Rows no configured key reads (an inverter's or a session's id): left as they were.
    unreadable: list[uuid.UUID] = field(default_factory=list)


def reencrypt_credentials(
    database: Database,
    cipher: CredentialsCipher,
    progress: Callable[[int, int], None] | None = None,
    batch: int = ROTATION_BATCH,
) -> CredentialRotation:
    """Re-encrypt every stored credential under the cipher's first key. Rows no configured key decrypts
    are left byte for byte as they were and listed. `progress(done, total)` follows the rows.

    One transaction per batch, paged by key rather than by offset: a large fleet is never locked for
    long, and each page starts where the last ended however many rows were rewritten. Rotating a row
    twice does no harm, so an interrupted run is simply run again."""
    with database.engine.connect() as connection:
        total = sum(
            connection.scalar(select(func.count()).where(column.is_not(None))) for _key, column in ENCRYPTED_COLUMNS
        )
    result = CredentialRotation()
    done = 0
    for key, column in ENCRYPTED_COLUMNS:
        for rows in _batches(database, cipher, key, column, batch, result):
            done += rows
            if progress is not None:
                progress(done, total)
    return result


def _batches(database, cipher, key: Column, column: Column, batch: int, result: CredentialRotation):
    table = column.table
    after: uuid.UUID | None = None
    while True:
        query = select(key, column).where(column.is_not(None)).order_by(key).limit(batch)
        if after is not None:
            query = query.where(key > after)
        with database.engine.execution_options(solarfleet_write=True).begin() as connection:
            # Locked until the batch commits, so credentials changed meanwhile are not overwritten
            # (PostgreSQL; SQLite's write transaction excludes other writers anyway).
            rows = connection.execute(query.with_for_update()).all()
            if not rows:
                return
            rotated = []
            for row_key, ciphertext in rows:
                try:
                    rotated.append({"row": row_key, "ciphertext": cipher.rotate(ciphertext.encode()).decode()})
                except CredentialsUnreadable:
                    result.unreadable.append(row_key)
            if rotated:
                connection.execute(
                    update(table).where(key == bindparam("row")).values({column.name: bindparam("ciphertext")}),
                    rotated,
                )
        result.rotated += len(rotated)
        after = rows[-1][0]
        yield len(rows)
