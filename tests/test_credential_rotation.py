"""Changing the key that encrypts device credentials: old rows stay readable, new rows use the new key,
and `solarfleet credentials rotate` re-encrypts the stored rows so the old key can go.

Database tests run on SQLite and PostgreSQL; the command runs as the installed console script.
"""

from __future__ import annotations

import uuid

import pytest
from cryptography.fernet import Fernet
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from solarfleet.credentials_cipher import CredentialsCipher, CredentialsUnreadable
from solarfleet.credentials_rotation import reencrypt_credentials
from solarfleet.database import utcnow
from solarfleet.inverters.models import Inverter
from solarfleet.monitoring.models import DeviceConnection
from solarfleet.monitoring.store import add_device_connection
from solarfleet.onboarding.models import OnboardingSession
from solarfleet.onboarding.service import reauthentication_session
from solarfleet.organisations.service import create_organisation
from solarfleet.users.models import User
from test_cli import Cli, _base_env, _flat, _sqlite_cli

KEY_A, KEY_B, KEY_C = Fernet.generate_key(), Fernet.generate_key(), Fernet.generate_key()
OLD = CredentialsCipher([KEY_A])
ROTATED = CredentialsCipher([KEY_B, KEY_A])  # the new key first, the old one after it
NEW_ONLY = CredentialsCipher([KEY_B])
UNKNOWN = CredentialsCipher([KEY_C])
API_KEY = "SE-API-KEY-0d1e2f3a4b5c6d7e8f9a"


def settings_of(number: int) -> dict:
    return {"api_key": f"{API_KEY}-{number}", "site_id": 4100 + number, "host": f"10.0.0.{number}"}


def add_connections(database, cipher: CredentialsCipher, count: int) -> list[uuid.UUID]:
    """`count` inverters of a new user, each with connector settings encrypted by `cipher`."""
    with database.session() as session:
        issued = create_organisation(session, f"Rotation {uuid.uuid4().hex[:6]}")
        user = User(organisation_id=issued.org_id, email=f"{uuid.uuid4().hex[:8]}@example.com")
        session.add(user)
        session.flush()
        ids = []
        for number in range(count):
            inverter = Inverter(organisation_id=user.organisation_id, user_id=user.id)
            session.add(inverter)
            session.flush()
            add_device_connection(session, cipher, inverter.id, "solaredge_cloud", settings_of(number))
            ids.append(inverter.id)
    return ids


def stored(database) -> dict[uuid.UUID, str]:
    with database.session(write=False) as session:
        return dict(session.execute(select(DeviceConnection.inverter_id, DeviceConnection.settings_ciphertext)).all())


def assert_no_clear_text(ciphertexts) -> None:
    for ciphertext in ciphertexts:
        assert API_KEY not in ciphertext
        assert "api_key" not in ciphertext


# -- the cipher --------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None)
@given(credentials=st.dictionaries(st.text(), json_values, max_size=6))
def test_any_settings_survive_encryption_and_rotation_unchanged(credentials):
    token = OLD.encrypt(credentials)
    assert ROTATED.decrypt(token) == credentials  # written under the old key, read with the new list

    rotated = ROTATED.rotate(token)
    assert NEW_ONLY.decrypt(rotated) == credentials
    with pytest.raises(CredentialsUnreadable):
        OLD.decrypt(rotated)
    again = ROTATED.rotate(rotated)  # as an interrupted rotation run again does
    assert again != rotated  # a fresh IV each time: equal settings never show as equal tokens
    assert NEW_ONLY.decrypt(again) == credentials


def test_rotating_a_token_no_key_reads_is_refused():
    with pytest.raises(CredentialsUnreadable):
        ROTATED.rotate(UNKNOWN.encrypt(settings_of(1)))
    with pytest.raises(CredentialsUnreadable):
        ROTATED.rotate(b"not a token")


# -- stored rows -------------------------------------------------------------------------------------


def test_rows_under_the_old_key_stay_readable_and_new_rows_use_the_new_key(database):
    old_ids = add_connections(database, OLD, 3)
    new_ids = add_connections(database, ROTATED, 2)
    rows = stored(database)
    assert_no_clear_text(rows.values())

    for number, inverter_id in enumerate(old_ids):
        assert ROTATED.decrypt(rows[inverter_id].encode()) == settings_of(number)
    for number, inverter_id in enumerate(new_ids):
        assert NEW_ONLY.decrypt(rows[inverter_id].encode()) == settings_of(number)
        with pytest.raises(CredentialsUnreadable):
            OLD.decrypt(rows[inverter_id].encode())


def test_reencrypting_puts_every_row_under_the_first_key_in_batches(database):
    ids = add_connections(database, OLD, 7) + add_connections(database, ROTATED, 1)
    calls = []

    result = reencrypt_credentials(database, ROTATED, progress=lambda *call: calls.append(call), batch=3)

    assert result.rotated == 8
    assert result.unreadable == []
    assert calls == [(3, 8), (6, 8), (8, 8)]
    rows = stored(database)
    assert_no_clear_text(rows.values())
    assert set(rows) == set(ids)
    for number, inverter_id in enumerate(ids[:7]):
        assert NEW_ONLY.decrypt(rows[inverter_id].encode()) == settings_of(number)  # the old key is no longer needed
        with pytest.raises(CredentialsUnreadable):
            OLD.decrypt(rows[inverter_id].encode())
    assert NEW_ONLY.decrypt(rows[ids[7]].encode()) == settings_of(0)


def test_a_row_no_key_reads_is_reported_and_left_as_it_was(database):
    readable = add_connections(database, OLD, 5)
    [lost] = add_connections(database, UNKNOWN, 1)
    before = stored(database)

    result = reencrypt_credentials(database, ROTATED, batch=2)

    assert result.rotated == 5
    assert result.unreadable == [lost]
    after = stored(database)
    assert after[lost] == before[lost]  # byte for byte
    assert UNKNOWN.decrypt(after[lost].encode()) == settings_of(0)  # so the right key still recovers it
    for number, inverter_id in enumerate(readable):
        assert NEW_ONLY.decrypt(after[inverter_id].encode()) == settings_of(number)


def test_credentials_waiting_in_a_connect_ui_session_are_reencrypted_too(database):
    [inverter_id] = add_connections(database, OLD, 1)
    with database.session() as session:
        inverter = session.get(Inverter, inverter_id)
        waiting = reauthentication_session(session, inverter, utcnow())
        waiting.pending_settings_ciphertext = OLD.encrypt(settings_of(1)).decode()
        idle = reauthentication_session(session, inverter, utcnow())  # nothing typed yet: nothing to rotate
        waiting_id, idle_id = waiting.id, idle.id

    result = reencrypt_credentials(database, ROTATED)

    assert (result.rotated, result.unreadable) == (2, [])
    with database.session(write=False) as session:
        rotated = session.get(OnboardingSession, waiting_id).pending_settings_ciphertext
        assert session.get(OnboardingSession, idle_id).pending_settings_ciphertext is None
    assert NEW_ONLY.decrypt(rotated.encode()) == settings_of(1)
    assert_no_clear_text([rotated])


def test_reencrypting_no_rows_reports_nothing(database):
    calls = []
    result = reencrypt_credentials(database, ROTATED, progress=lambda *call: calls.append(call))
    assert (result.rotated, result.unreadable, calls) == (0, [], [])


# -- the command -------------------------------------------------------------------------------------


def cli_on(database, tmp_path) -> Cli:
    """The console script on the test's database (already migrated, so the command finds its tables)."""
    workdir, state_dir = tmp_path / "work", tmp_path / "state"
    workdir.mkdir()
    env = {**_base_env(tmp_path), "SOLARFLEET_STATE_DIR": str(state_dir), "SOLARFLEET_DATABASE_URL": database.url}
    return Cli(workdir, state_dir, database.url, env)


def keys(*chosen: bytes) -> dict[str, str]:
    return {"SOLARFLEET_ENCRYPTION_KEYS": ",".join(key.decode() for key in chosen)}


def test_credentials_rotate_command_reencrypts_and_points_to_the_missing_key(database, tmp_path):
    cli = cli_on(database, tmp_path)
    ids = add_connections(database, OLD, 3)

    done = cli.ok("credentials", "rotate", env=keys(KEY_B, KEY_A))
    assert "3 device credentials re-encrypted" in _flat(done.stderr)
    rows = stored(database)
    assert_no_clear_text(rows.values())
    for number, inverter_id in enumerate(ids):
        assert NEW_ONLY.decrypt(rows[inverter_id].encode()) == settings_of(number)

    # The old key dropped too early: rows still under it cannot be read, and the command says what to do.
    [lost] = add_connections(database, OLD, 1)
    before = stored(database)[lost]
    failed = cli.run("credentials", "rotate", env=keys(KEY_B))
    assert failed.returncode == 1
    message = _flat(failed.stderr)
    assert "3 device credentials re-encrypted" in message
    assert "1 device credentials could not be decrypted" in message
    assert str(lost) in message
    assert "put the old key back in SOLARFLEET_ENCRYPTION_KEYS after the new one" in message
    assert "Traceback" not in failed.stderr
    assert stored(database)[lost] == before

    for result in (done, failed):
        assert API_KEY not in result.stdout + result.stderr
        assert KEY_A.decode() not in result.stdout + result.stderr


def test_credentials_rotate_refuses_a_malformed_key(tmp_path):
    # Refused before any database access, so one database kind is enough.
    result = _sqlite_cli(tmp_path).run("credentials", "rotate", env={"SOLARFLEET_ENCRYPTION_KEYS": "not-a-key"})
    assert result.returncode == 1
    message = _flat(result.stderr)
    assert "SOLARFLEET_ENCRYPTION_KEYS" in message
    assert "Fernet key" in message
    assert "not-a-key" not in message
    assert "Traceback" not in result.stderr


def test_credentials_rotate_help_explains_the_procedure(tmp_path):
    help_text = _flat(_sqlite_cli(tmp_path).ok("credentials", "rotate", "--help").stdout)
    assert "put a new Fernet key first in SOLARFLEET_ENCRYPTION_KEYS and keep the old keys after it" in help_text
    assert "run `solarfleet credentials rotate`" in help_text
    assert "the old keys may be removed" in help_text
