"""The SolarEdge Monitoring API connector against a stand-in vendor served over loopback HTTP."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from solarfleet.connectors.base import (
    Command,
    ConnectorError,
    ControlMode,
    CredentialsRejected,
    DeviceUnreachable,
    MalformedData,
    Quantity,
    Reading,
    Unsupported,
)
from solarfleet.connectors.budget import BudgetRegistry, Clock, OverBudget
from solarfleet.connectors.registry import (
    ConnectorContext,
    InvalidConnectionSettings,
    connector_kind,
    open_connector,
    validate_settings,
)
from solarfleet.connectors.solaredge import (
    ENERGY_REFRESH,
    IDENTITY_REQUESTS_PER_DAY,
    KIND,
    REQUESTS_PER_POLL,
    SolarEdgeConnector,
    SolarEdgeSettings,
    reading_from_power_flow,
)
from stand_ins.solaredge import Fault, SolarEdgeStandIn, StandInSite, power_flow_payload

KEY = "P1MGY4VDLYQFRNY55UVFNOAEK9DNAUQS"
INSTALLER_KEY = "WYDVMYR8I89N26U9QY6P32SVMXYYGSFE"
UNKNOWN_KEY = "BEA3R9K2JOK97O4064S87C7YYFV8VTJR"
SITE = 1234567
IO_TIMEOUT_S = 0.3
START = datetime(2024, 6, 21, 11, 30, tzinfo=UTC)
BALANCE = (
    Quantity.SOLAR_PRODUCTION_W,
    Quantity.POWER_TO_GRID_W,
    Quantity.HOUSEHOLD_CONSUMPTION_W,
    Quantity.BATTERY_POWER_W,
)


class ManualClock:
    """Time moves only when a test says so; waits move it too."""

    def __init__(self, start: datetime = START) -> None:
        self.time = start

    def now(self) -> datetime:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.time += timedelta(seconds=seconds)
        await asyncio.sleep(0)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def vendor(clock: ManualClock) -> AsyncIterator[SolarEdgeStandIn]:
    async with SolarEdgeStandIn(now=clock.now) as stand_in:
        yield stand_in


@pytest.fixture
async def context(clock: ManualClock) -> AsyncIterator[ConnectorContext]:
    context = ConnectorContext(budgets=BudgetRegistry(Clock(clock.now, clock.sleep)), io_timeout_s=IO_TIMEOUT_S)
    yield context
    await context.close()


def connect(
    context: ConnectorContext, vendor: SolarEdgeStandIn, site_id: int = SITE, key: str = KEY
) -> SolarEdgeConnector:
    connector = open_connector(
        "solaredge_monitoring", {"api_key": key, "site_id": site_id, "base_url": vendor.base_url}, context
    )
    assert isinstance(connector, SolarEdgeConnector)
    return connector


def endpoints(vendor: SolarEdgeStandIn) -> list[str]:
    return [seen.endpoint for seen in vendor.seen]


def assert_balanced(reading: Reading, tolerance_w: float = 0.0) -> None:
    solar, grid, house = reading.solar_production_w, reading.power_to_grid_w, reading.household_consumption_w
    battery = reading.battery_charge_discharge_power_w or 0.0
    assert solar >= 0
    assert house >= 0
    assert house == pytest.approx(solar + battery - grid, abs=tolerance_w + 1e-6)


# Settings


def test_settings_accept_a_key_and_normalise_case_and_blanks() -> None:
    settings = validate_settings("solaredge_monitoring", {"api_key": f"  {KEY.lower()} ", "site_id": "42"})
    assert isinstance(settings, SolarEdgeSettings)
    assert settings.api_key.get_secret_value() == KEY
    assert settings.site_id == 42
    assert settings.base_url == "https://monitoringapi.solaredge.com"
    assert KEY not in repr(settings)
    assert connector_kind("solaredge_monitoring") is KIND


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"api_key": KEY[:-1]}, "api_key"),
        ({"api_key": KEY[:-1] + "-"}, "api_key"),
        ({"site_id": 0}, "site_id"),
        ({"base_url": "ftp://monitoringapi.solaredge.com"}, "base_url"),
        ({"base_url": "monitoringapi.solaredge.com"}, "base_url"),
        ({"base_url": "https://monitoringapi.solaredge.com/?api_key=x"}, "base_url"),
        ({"password": "x"}, "password"),
    ],
)
def test_settings_reject_with_the_field_at_fault_and_never_quote_the_key(changes: dict, field: str) -> None:
    settings = {"api_key": KEY, "site_id": SITE} | changes
    with pytest.raises(InvalidConnectionSettings) as caught:
        validate_settings("solaredge_monitoring", settings)
    assert field in str(caught.value)
    assert KEY[:-1] not in str(caught.value)


def test_settings_keep_an_http_base_url_without_its_trailing_slash() -> None:
    settings = SolarEdgeSettings(api_key=KEY, site_id=SITE, base_url="http://127.0.0.1:8080/")
    assert settings.base_url == "http://127.0.0.1:8080"


# Readings


@pytest.mark.anyio
async def test_export_while_charging_in_kw(vendor, context, clock) -> None:
    vendor.add(KEY, StandInSite(SITE, solar_w=4200, household_w=1500, battery_w=-1000, batteries=[("B", "S", 9700)]))
    reading = await connect(context, vendor).read_state()

    assert reading.time == clock.time
    assert reading.solar_production_w == pytest.approx(4200)
    assert reading.power_to_grid_w == pytest.approx(1700)  # export
    assert reading.household_consumption_w == pytest.approx(1500)
    assert reading.battery_charge_discharge_power_w == pytest.approx(-1000)  # charging
    assert reading.battery_charge_level_percent == 62
    assert reading.solar_energy_wh == 12_345_678
    assert reading.reported == {*BALANCE, Quantity.BATTERY_SOC_PERCENT, Quantity.SOLAR_ENERGY_WH}
    assert_balanced(reading)


@pytest.mark.anyio
async def test_import_while_discharging_in_w(vendor, context) -> None:
    site = StandInSite(SITE, unit="W", solar_w=0, household_w=2500, battery_w=800, batteries=[("B", "S", 9700)])
    vendor.add(KEY, site)
    reading = await connect(context, vendor).read_state()

    assert reading.solar_production_w == 0
    assert reading.power_to_grid_w == pytest.approx(-1700)  # import
    assert reading.household_consumption_w == pytest.approx(2500)
    assert reading.battery_charge_discharge_power_w == pytest.approx(800)  # discharging
    assert_balanced(reading)


@pytest.mark.anyio
async def test_a_site_without_battery_reads_no_battery(vendor, context) -> None:
    vendor.add(KEY, StandInSite(SITE, solar_w=900, household_w=2000))
    connector = connect(context, vendor)
    reading = await connector.read_state()

    assert reading.power_to_grid_w == pytest.approx(-1100)
    assert reading.battery_charge_discharge_power_w is None
    assert reading.battery_charge_level_percent is None
    assert Quantity.BATTERY_POWER_W not in reading.reported
    assert_balanced(reading)
    capabilities = await connector.capabilities()
    assert Quantity.BATTERY_POWER_W not in capabilities.reads
    assert capabilities.battery is None


@pytest.mark.anyio
async def test_a_site_without_power_flow_is_read_through_its_overview(vendor, context) -> None:
    updated = datetime(2024, 6, 21, 10, 55, 0, tzinfo=UTC)
    site = StandInSite(SITE, power_flow=False, solar_w=3100, time_zone="America/Denver", last_update=updated)
    vendor.add(KEY, site)
    before_any_poll = await connect(context, vendor).capabilities()
    assert before_any_poll.reads == {Quantity.SOLAR_PRODUCTION_W, Quantity.SOLAR_ENERGY_WH}  # no meter listed
    vendor.seen.clear()
    connector = connect(context, vendor)

    reading = await connector.read_state()
    assert reading.solar_production_w == 3100
    assert reading.solar_energy_wh == 12_345_678
    assert reading.power_to_grid_w is None
    assert reading.time == updated  # the site's local lastUpdateTime, placed with its time zone
    assert reading.reported == {Quantity.SOLAR_PRODUCTION_W, Quantity.SOLAR_ENERGY_WH}

    await connector.read_state()  # straight to the overview: no more power-flow requests
    assert endpoints(vendor) == ["currentPowerFlow", "overview", "details", "inventory", "overview"]
    capabilities = await connector.capabilities()
    assert capabilities.reads == {Quantity.SOLAR_PRODUCTION_W, Quantity.SOLAR_ENERGY_WH}


@pytest.mark.anyio
async def test_lifetime_energy_is_read_about_hourly_and_reported_only_when_fresh(vendor, context, clock) -> None:
    site = StandInSite(SITE)
    vendor.add(KEY, site)
    connector = connect(context, vendor)

    first = await connector.read_state()
    assert Quantity.SOLAR_ENERGY_WH in first.reported
    site.lifetime_energy_wh += 500
    clock.time += connector.poll_interval()
    second = await connector.read_state()
    assert second.solar_energy_wh == first.solar_energy_wh  # the last known value ...
    assert Quantity.SOLAR_ENERGY_WH not in second.reported  # ... not claimed as read
    assert Quantity.SOLAR_ENERGY_WH in second.computed
    assert endpoints(vendor) == ["currentPowerFlow", "overview", "currentPowerFlow"]

    clock.time += max(ENERGY_REFRESH, 12 * connector.poll_interval())
    third = await connector.read_state()
    assert third.solar_energy_wh == first.solar_energy_wh + 500
    assert Quantity.SOLAR_ENERGY_WH in third.reported


@pytest.mark.anyio
async def test_a_failing_overview_keeps_the_power_flow_and_waits_for_its_next_turn(vendor, context, clock) -> None:
    vendor.add(KEY, StandInSite(SITE))
    vendor.fault, vendor.fault_endpoint, vendor.error_status = Fault.HTTP_ERROR, "overview", 503
    connector = connect(context, vendor)

    reading = await connector.read_state()
    assert reading.solar_production_w == pytest.approx(4200)
    assert reading.solar_energy_wh is None
    clock.time += connector.poll_interval()
    await connector.read_state()
    assert endpoints(vendor) == ["currentPowerFlow", "overview", "currentPowerFlow"]  # not retried every poll


# Identity and control


@pytest.mark.anyio
async def test_capabilities_describe_the_site_and_offer_no_controls(vendor, context) -> None:
    site = StandInSite(
        SITE,
        name="Müller, Dachfläche Süd",
        peak_power_kw=9.86,
        inverters=[("SE5K-RWS48BEN4", "7E1C2D3A-B4"), ("SE3K-RW0TEBEN4", "7E1C2D3A-C5")],
        batteries=[("BAT-05K48M0B-01", "T1A2B3", 4600.0), ("BAT-05K48M0B-01", "T1A2B4", 4600.0)],
    )
    vendor.add(KEY, site)
    connector = connect(context, vendor)
    capabilities = await connector.capabilities()

    assert capabilities.controls == frozenset()
    assert capabilities.reads == {*BALANCE, Quantity.BATTERY_SOC_PERCENT, Quantity.SOLAR_ENERGY_WH}
    assert capabilities.battery is not None
    assert capabilities.battery.capacity_wh == 9200
    assert capabilities.identity == {
        "manufacturer": "SolarEdge",
        "site_id": str(SITE),
        "site_name": "Müller, Dachfläche Süd",
        "peak_power_w": "9860",
        "time_zone": "Europe/Berlin",
        "inverter_models": "SE5K-RWS48BEN4, SE3K-RW0TEBEN4",
        "inverter_serials": "7E1C2D3A-B4, 7E1C2D3A-C5",
        "battery_models": "BAT-05K48M0B-01, BAT-05K48M0B-01",
        "battery_serials": "T1A2B3, T1A2B4",
    }
    assert capabilities.poll_interval == connector.poll_interval()
    await connector.capabilities()
    assert endpoints(vendor) == ["details", "inventory"]  # read once per connector

    with pytest.raises(Unsupported):
        await connector.apply(Command(ControlMode.HOLD))
    assert (await connector.read_control()).mode is ControlMode.SELF_CONSUMPTION


@pytest.mark.anyio
async def test_poll_interval_keeps_the_key_and_each_site_under_300_a_day(vendor, context) -> None:
    own = connect(context, vendor)
    alone = own.poll_interval()
    assert timedelta(minutes=4) < alone < timedelta(minutes=10)

    shared = [connect(context, vendor, site_id=100 + n, key=INSTALLER_KEY) for n in range(10)]
    interval = shared[0].poll_interval()
    assert all(connector.poll_interval() == interval for connector in shared)
    per_device_per_day = timedelta(days=1) / interval * REQUESTS_PER_POLL + IDENTITY_REQUESTS_PER_DAY
    assert 10 * per_device_per_day <= 300
    assert 10 * per_device_per_day >= 250  # and the quota is used, not wasted

    for connector in shared[5:]:
        await connector.close()  # devices removed: the others may poll more often
    assert shared[0].poll_interval() < interval
    assert own.poll_interval() == alone


# Errors


@pytest.mark.anyio
@pytest.mark.parametrize("key", [UNKNOWN_KEY, INSTALLER_KEY])
async def test_a_refused_key_raises_credentials_rejected(vendor, context, key) -> None:
    vendor.add(KEY, StandInSite(SITE))
    vendor.add(INSTALLER_KEY, StandInSite(SITE + 1))  # a real key, but not for this site
    with pytest.raises(CredentialsRejected) as caught:
        await connect(context, vendor, key=key).read_state()
    assert "403" in str(caught.value)
    assert key not in str(caught.value)


@pytest.mark.anyio
async def test_429_backs_off_without_spending_more_requests(vendor, context, clock) -> None:
    vendor.add(KEY, StandInSite(SITE))
    connector = connect(context, vendor)
    vendor.fault, vendor.error_status = Fault.HTTP_ERROR, 429

    with pytest.raises(OverBudget) as caught:
        await connector.read_state()
    assert isinstance(caught.value, DeviceUnreachable)
    assert caught.value.retry_at >= clock.time + timedelta(minutes=1)
    assert len(vendor.seen) == 1

    vendor.fault = None
    with pytest.raises(OverBudget):  # still backing off: refused before anything is sent
        await connector.read_state()
    assert len(vendor.seen) == 1

    clock.time = caught.value.retry_at
    vendor.fault = Fault.HTTP_ERROR
    with pytest.raises(OverBudget) as again:
        await connector.read_state()
    assert again.value.retry_at >= clock.time + timedelta(minutes=2)  # a second refusal in a row: longer

    clock.time = again.value.retry_at
    vendor.fault = None
    await connector.read_state()
    assert [seen.status for seen in vendor.seen] == [429, 429, 200, 200]


@pytest.mark.anyio
async def test_429_honours_the_vendors_retry_after(vendor, context, clock) -> None:
    vendor.add(KEY, StandInSite(SITE))
    vendor.fault, vendor.error_status, vendor.retry_after = Fault.HTTP_ERROR, 429, "900"
    with pytest.raises(OverBudget) as caught:
        await connect(context, vendor).read_state()
    assert caught.value.retry_at == clock.time + timedelta(seconds=900)


@pytest.mark.anyio
async def test_429_pauses_the_other_sites_of_the_key(vendor, context) -> None:
    vendor.add(INSTALLER_KEY, StandInSite(1), StandInSite(2))
    first, second = connect(context, vendor, 1, INSTALLER_KEY), connect(context, vendor, 2, INSTALLER_KEY)
    vendor.fault, vendor.error_status = Fault.HTTP_ERROR, 429
    with pytest.raises(OverBudget):
        await first.read_state()
    vendor.fault = None
    with pytest.raises(OverBudget):
        await second.read_state()
    assert len(vendor.seen) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fault", "status", "error"),
    [
        (Fault.HTTP_ERROR, 500, DeviceUnreachable),
        (Fault.HTTP_ERROR, 503, DeviceUnreachable),
        (Fault.SLOW, 200, DeviceUnreachable),
        (Fault.GARBAGE, 200, MalformedData),
        (Fault.HTTP_ERROR, 404, ConnectorError),
    ],
)
async def test_vendor_failures_become_typed_errors(vendor, context, fault, status, error) -> None:
    vendor.add(KEY, StandInSite(SITE))
    vendor.fault, vendor.error_status = fault, status
    with pytest.raises(error) as caught:
        await connect(context, vendor).read_state()
    assert type(caught.value) is error


@pytest.mark.parametrize(
    "payload",
    [
        {"siteCurrentPowerFlow": {"unit": "MW", "PV": {"currentPower": 1}}},
        {"siteCurrentPowerFlow": {"unit": "kW", "PV": {"status": "Active"}}},
        {"siteCurrentPowerFlow": {"unit": "kW", "PV": {"currentPower": -1.5}}},
        {"siteCurrentPowerFlow": {"unit": "kW", "PV": {"currentPower": 1}, "connections": [{"from": "PV"}]}},
        {"siteCurrentPowerFlow": "none"},
        {"somethingElse": {}},
        [],
    ],
)
def test_missing_or_wrong_members_are_malformed_data(payload) -> None:
    with pytest.raises(MalformedData):
        reading_from_power_flow(payload, START)


@pytest.mark.anyio
async def test_a_vendor_that_is_gone_is_unreachable(context) -> None:
    async with SolarEdgeStandIn() as gone:
        gone.add(KEY, StandInSite(SITE))
        connector = connect(context, gone)
    with pytest.raises(DeviceUnreachable):
        await connector.read_state()


# Limits


@pytest.mark.anyio
async def test_ten_devices_of_one_key_polled_at_once_never_exceed_three_concurrent(vendor, context) -> None:
    vendor.add(INSTALLER_KEY, *(StandInSite(100 + n) for n in range(10)))
    vendor.add(KEY, *(StandInSite(200 + n) for n in range(5)))
    vendor.latency_s = 0.05  # long enough that unthrottled requests would overlap
    devices = [connect(context, vendor, 100 + n, INSTALLER_KEY) for n in range(10)]
    devices += [connect(context, vendor, 200 + n, KEY) for n in range(5)]

    readings = await asyncio.gather(*(device.read_state() for device in devices))

    assert all(reading.solar_production_w == pytest.approx(4200) for reading in readings)
    assert vendor.over_limit == []
    assert max(vendor.peak_per_key.values()) == 3
    assert vendor.peak_per_source == 3  # SolarEdge counts concurrency per source address too
    assert {seen.status for seen in vendor.seen} == {200}


@pytest.mark.anyio
async def test_the_key_never_appears_in_errors_reprs_or_logs(vendor, context, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    vendor.add(KEY, StandInSite(SITE))
    connector = connect(context, vendor)
    texts = [repr(connector), repr(context.budget_registry()), *map(repr, context.budget_registry().budgets())]
    for fault, status in [(Fault.HTTP_ERROR, 403), (Fault.HTTP_ERROR, 500), (Fault.SLOW, 200), (Fault.GARBAGE, 200)]:
        vendor.fault, vendor.error_status = fault, status
        with pytest.raises((DeviceUnreachable, CredentialsRejected, MalformedData)) as caught:
            await connector.read_state()
        texts += [str(caught.value), repr(caught.value)]
    vendor.error_status, vendor.fault = 429, Fault.HTTP_ERROR
    with pytest.raises(OverBudget) as caught:
        await connector.read_state()
    texts += [str(caught.value), repr(caught.value), caplog.text]

    assert [seen.status for seen in vendor.seen] == [403, 500, 200, 429]  # and the slow one still pending
    assert all(seen.key == KEY for seen in vendor.seen)  # the key was sent ...
    assert not [text for text in texts if KEY in text or KEY.lower() in text]  # ... and never shown


# The power-flow conversion


@st.composite
def flows(draw: st.DrawFn) -> tuple[float, float, float | None, float]:
    """Physically consistent site powers in whole watts: (solar, household, battery or None, grid)."""
    solar = draw(st.integers(0, 15_000))
    household = draw(st.integers(0, 15_000))
    battery = draw(st.none() | st.integers(-8_000, 8_000))
    grid = solar + (battery or 0) - household
    return solar, household, battery, grid


@given(
    flow=flows(),
    unit=st.sampled_from(["kW", "W"]),
    shuffle_seed=st.integers(0, 2**16),
    respell=st.sampled_from([str.upper, str.lower, str.title, str]),
    hide=st.sampled_from([None, "grid connection", "storage connection"]),
)
def test_power_flow_signs_and_balance_survive_solaredges_representation(flow, unit, shuffle_seed, respell, hide):
    solar, household, battery, grid = flow
    payload = power_flow_payload(solar, household, battery, grid, soc=40.0, unit=unit)
    body = payload["siteCurrentPowerFlow"]
    # SolarEdge's spelling of the ends and the order of the connections vary.
    connections = [{"from": respell(edge["from"]), "to": respell(edge["to"])} for edge in body["connections"]]
    if hide == "grid connection":
        # Direction then comes from the power balance; that needs a grid power well above the rounding.
        assume(abs(grid) >= 10)
        connections = [edge for edge in connections if "GRID" not in (edge["from"].upper(), edge["to"].upper())]
    elif hide == "storage connection":
        connections = [edge for edge in connections if "STORAGE" not in (edge["from"].upper(), edge["to"].upper())]
    random.Random(shuffle_seed).shuffle(connections)
    body["connections"] = connections

    reading = reading_from_power_flow(payload, START)

    rounding_w = 0.5 if unit == "kW" else 0.05
    assert reading.solar_production_w == pytest.approx(solar, abs=rounding_w)
    assert reading.household_consumption_w == pytest.approx(household, abs=rounding_w)
    assert reading.power_to_grid_w == pytest.approx(grid, abs=rounding_w)
    if battery is None:
        assert reading.battery_charge_discharge_power_w is None
    else:
        assert reading.battery_charge_discharge_power_w == pytest.approx(battery, abs=rounding_w)
        assert reading.battery_charge_level_percent == 40.0
    assert_balanced(reading, tolerance_w=4 * rounding_w)
    assert set(BALANCE) - reading.reported == ({Quantity.BATTERY_POWER_W} if battery is None else set())


def test_an_empty_power_flow_means_the_site_has_none() -> None:
    assert reading_from_power_flow({}, START) is None
    assert reading_from_power_flow({"siteCurrentPowerFlow": {}}, START) is None
