"""The inference job end to end: a simulated home is monitored into the store, the job reads its month of
readings back, and the inferred values, their evidence and the endpoint that shows them follow.

Each test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet

from conftest import make_partner
from inference.simulated import plausible_home
from solarfleet.connectors.registry import ConnectorContext
from solarfleet.connectors.simulator.clock import SimulationClock
from solarfleet.connectors.simulator.home import EvSpec
from solarfleet.credentials_cipher import CredentialsCipher
from solarfleet.demo import add_simulated_inverter
from solarfleet.inference.service import run_inference
from solarfleet.inverters.models import Inverter
from solarfleet.monitoring.pipeline import MonitoringSettings, MonitoringWorker
from solarfleet.optimization.service import battery_model
from solarfleet.prices.zones import PriceZone
from solarfleet.users.models import User

CIPHER = CredentialsCipher([Fernet.generate_key()])
START = datetime(2025, 6, 2, tzinfo=UTC)
DAYS = 9


def monitored_home(database, organisation_id: uuid.UUID, seed: int, ev: bool) -> tuple[uuid.UUID, uuid.UUID]:
    with database.session() as session:
        user = User(organisation_id=organisation_id, email=f"{uuid.uuid4().hex[:8]}@example.com")
        session.add(user)
        session.flush()
        parameters = plausible_home(seed, ev=ev)
        if ev:  # charging often enough that nine days hold several sessions
            parameters = parameters.model_copy(update={"ev": EvSpec(power_w=11_000, sessions_per_week=5)})
        inverter = add_simulated_inverter(session, CIPHER, user, parameters, PriceZone.AT)
        inverter.battery_capacity_kwh = None  # nothing configured: what planning knows must come from inference
        return user.id, inverter.id


def monitor(database, days: int) -> None:
    worker = MonitoringWorker(
        database,
        CIPHER,
        ConnectorContext(clock=SimulationClock.stepped(START)),
        MonitoringSettings(default_poll_interval=timedelta(minutes=1)),
    )
    worker.load()
    asyncio.run(worker.replay(START + timedelta(days=days), timedelta(minutes=1)))


def test_the_job_stores_what_history_shows_and_planning_uses_it(client, database, partner) -> None:
    organisation_id = uuid.UUID(partner.org_id)
    user_id, inverter_id = monitored_home(database, organisation_id, seed=21, ev=True)
    monitor(database, DAYS)
    now = START + timedelta(days=DAYS)

    result = run_inference(database, now)

    assert result.inverters == 1
    with database.session(write=False) as session:
        inverter = session.get(Inverter, inverter_id)
    truth = plausible_home(21, ev=True).battery
    assert inverter.inferred_params_updated_at == now
    assert inverter.ev_inferred_at == now
    assert inverter.inferred_battery_capacity_kwh == pytest.approx(truth.capacity_kwh, rel=0.05)
    assert inverter.has_ev_in_household is True
    assert 0 < inverter.ev_inference_confidence <= 1.0

    response = client.get(f"{partner.base}/users/{user_id}/inverters/{inverter_id}/inference", headers=partner.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    capacity = body["battery"]["inferred_battery_capacity_kwh"]
    assert capacity["value"] == pytest.approx(inverter.inferred_battery_capacity_kwh)
    assert capacity["segments"] >= 4
    assert body["ev"]["bouts_last_30_days"] == len(body["ev"]["bouts"]) >= 2
    assert body["has_ev_in_household"] is True


def test_too_little_history_leaves_everything_null_but_says_when_it_looked(client, database, partner) -> None:
    user_id, inverter_id = monitored_home(database, uuid.UUID(partner.org_id), seed=22, ev=False)
    monitor(database, 1)
    now = START + timedelta(days=1)

    run_inference(database, now)

    body = client.get(
        f"{partner.base}/users/{user_id}/inverters/{inverter_id}/inference", headers=partner.headers
    ).json()
    assert body["has_ev_in_household"] is None
    assert body["ev_inference_confidence"] is None
    assert body["ev_inferred_at"] is not None
    assert all(estimate is None for name, estimate in body["battery"].items() if name.startswith("inferred_"))


def test_another_organisation_cannot_read_the_evidence(client, database, partner) -> None:
    user_id, inverter_id = monitored_home(database, uuid.UUID(partner.org_id), seed=23, ev=False)
    other = make_partner(client, database, "Other")
    path = f"/users/{user_id}/inverters/{inverter_id}/inference"
    assert client.get(partner.base + path, headers=other.headers).status_code == 403  # their organisation's path
    assert client.get(other.base + path, headers=other.headers).status_code == 404  # their ids under its own


def test_planning_takes_the_inferred_battery_where_nothing_else_is_known() -> None:
    inverter = Inverter(
        is_battery_connected=True,
        battery_capacity_kwh=None,
        user_limits_enabled=False,
        inferred_battery_capacity_kwh=9.6,
        inferred_max_charge_power_w=4200.0,
        inferred_max_discharge_power_w=4600.0,
        inferred_min_battery_soc_percent=12.0,
    )
    model, note = battery_model(inverter, None)
    assert note is None
    assert model.capacity_wh == pytest.approx(9600.0)
    assert (model.max_charge_w, model.max_discharge_w) == (4200.0, 4600.0)
    assert model.floor_wh == pytest.approx(0.12 * 9600.0)
    # what the partner configured wins over what was inferred
    inverter.battery_capacity_kwh = 12.0
    assert battery_model(inverter, None)[0].capacity_wh == pytest.approx(12_000.0)
