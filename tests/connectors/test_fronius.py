"""The Fronius Solar API connector against a stand-in inverter served over loopback HTTP."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solarfleet.connectors.base import (
    Command,
    Connector,
    ControlMode,
    ControlState,
    CredentialsRejected,
    DeviceUnreachable,
    MalformedData,
    Quantity,
    Unsupported,
)
from solarfleet.connectors.fronius import FroniusSettings
from solarfleet.connectors.registry import (
    ConnectorContext,
    InvalidConnectionSettings,
    open_connector,
    validate_settings,
)
from stand_ins.fronius import Fault, FroniusStandIn, FroniusState

IO_TIMEOUT_S = 0.3
ALL_POWER = {
    Quantity.SOLAR_PRODUCTION_W,
    Quantity.POWER_TO_GRID_W,
    Quantity.HOUSEHOLD_CONSUMPTION_W,
    Quantity.BATTERY_POWER_W,
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def device() -> AsyncIterator[FroniusStandIn]:
    async with FroniusStandIn() as stand_in:
        yield stand_in


@pytest.fixture
async def context() -> AsyncIterator[ConnectorContext]:
    context = ConnectorContext(io_timeout_s=IO_TIMEOUT_S)
    yield context
    await context.close()


@pytest.fixture
def connector(device: FroniusStandIn, context: ConnectorContext) -> Connector:
    return open_connector("fronius_solar_api", {"host": device.host}, context)


@pytest.mark.anyio
async def test_reading_converts_fronius_signs_and_time(device: FroniusStandIn, connector: Connector) -> None:
    # Fronius: importing nothing, exporting 1000 W, house draws 1200 W, battery charges with 300 W.
    reading = await connector.read_state()

    assert reading.time == datetime(2024, 6, 21, 11, 5, 7, tzinfo=UTC)
    assert reading.time.utcoffset() == timedelta(0)
    assert reading.solar_production_w == 2500
    assert reading.power_to_grid_w == 1000
    assert reading.household_consumption_w == 1200
    assert reading.battery_charge_discharge_power_w == -300
    assert reading.battery_charge_level_percent == 55
    assert reading.solar_energy_wh == 12_345_678
    assert reading.reported == frozenset(Quantity)
    assert reading.computed == frozenset()
    # Everything came with the power flow: no meter or storage request was needed.
    assert [path.split("?")[0] for path in device.requests] == ["/solar_api/v1/GetPowerFlowRealtimeData.fcgi"]


@pytest.mark.anyio
async def test_site_without_battery_has_no_battery_quantities(device: FroniusStandIn, connector: Connector) -> None:
    device.state = FroniusState(has_battery=False, p_pv=800, p_grid=400, p_load=-1200)

    reading = await connector.read_state()

    assert reading.battery_charge_discharge_power_w is None
    assert reading.battery_charge_level_percent is None
    assert reading.power_to_grid_w == -400
    assert reading.household_consumption_w == 1200
    assert reading.reported == frozenset(Quantity) - {Quantity.BATTERY_POWER_W, Quantity.BATTERY_SOC_PERCENT}


@pytest.mark.anyio
async def test_only_what_the_device_gave_is_reported(device: FroniusStandIn, connector: Connector) -> None:
    # An inverter without a meter, asleep at night: P_PV, P_Grid and P_Load are null.
    device.state = FroniusState(has_battery=False, p_pv=None, p_grid=None, p_load=None)

    reading = await connector.read_state()

    assert reading.reported == {Quantity.SOLAR_ENERGY_WH}
    assert all(reading.value(quantity) is None for quantity in ALL_POWER)
    assert reading.computed == frozenset()
    # Site.Mode "produce-only" says there is no meter to ask instead.
    assert len(device.requests) == 1


@pytest.mark.anyio
async def test_grid_power_from_the_meter_when_the_power_flow_lacks_it(
    device: FroniusStandIn, connector: Connector
) -> None:
    device.state = FroniusState(p_grid=None, meter_p_sum=350.0)

    reading = await connector.read_state()

    assert reading.power_to_grid_w == -350
    assert Quantity.POWER_TO_GRID_W in reading.reported
    assert any("GetMeterRealtimeData.cgi" in path for path in device.requests)


@pytest.mark.anyio
async def test_state_of_charge_from_storage_data_when_the_power_flow_lacks_it(
    device: FroniusStandIn, connector: Connector
) -> None:
    device.state = FroniusState(soc_in_power_flow=False, soc=81.5)

    reading = await connector.read_state()

    assert reading.battery_charge_level_percent == 81.5
    assert Quantity.BATTERY_SOC_PERCENT in reading.reported


@pytest.mark.anyio
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    p_pv=st.floats(-20, 30_000) | st.none(),
    p_akku=st.floats(-10_000, 10_000) | st.none(),
    p_load=st.floats(-30_000, 20) | st.none(),
)
async def test_sign_conversion_holds_for_any_power_flow(
    device: FroniusStandIn, connector: Connector, p_pv: float | None, p_akku: float | None, p_load: float | None
) -> None:
    # Fronius's own balance: the flows into the site add up to zero.
    p_grid = -((p_pv or 0.0) + (p_akku or 0.0) + (p_load or 0.0))
    device.state = FroniusState(p_pv=p_pv, p_grid=p_grid, p_load=p_load, p_akku=p_akku, has_battery=p_akku is not None)

    reading = await connector.read_state()

    assert reading.power_to_grid_w == -p_grid
    assert reading.battery_charge_discharge_power_w == p_akku
    assert reading.solar_production_w == (None if p_pv is None else max(p_pv, 0.0))
    assert reading.household_consumption_w == (None if p_load is None else max(-p_load, 0.0))
    assert (reading.solar_production_w or 0.0) >= 0
    assert (reading.household_consumption_w or 0.0) >= 0
    if reading.reported >= ALL_POWER and p_pv >= 0 and p_load <= 0:  # no noise clamped away
        balance = reading.solar_production_w + reading.battery_charge_discharge_power_w - reading.power_to_grid_w
        assert reading.household_consumption_w == pytest.approx(balance, abs=1e-6)


@pytest.mark.anyio
async def test_capabilities_carry_identity_and_no_controls(connector: Connector) -> None:
    capabilities = await connector.capabilities()

    assert capabilities.identity == {
        "serial": "28136344",
        "device_type": "99",
        "manufacturer": "Fronius",
        "model": "Symo Hybrid 5.0-3-S",
        "name": "Garage & roof",
        "firmware": "3.28.1-3",
        "datamanager": "fronius-datamanager-card",
        "datamanager_serial": "240.420911",
    }
    assert capabilities.reads == frozenset(Quantity)
    assert capabilities.controls == frozenset()
    assert capabilities.poll_interval is None  # a local device sets no pace: the operator's interval applies


@pytest.mark.anyio
async def test_capabilities_of_a_gen24_without_logger_info_at_night(
    device: FroniusStandIn, connector: Connector
) -> None:
    device.state = FroniusState(has_logger_info=False, device_type=1, p_pv=None, has_battery=False)

    capabilities = await connector.capabilities()

    assert capabilities.identity == {
        "serial": "28136344",
        "device_type": "1",
        "manufacturer": "Fronius",
        "model": "Gen24",
        "name": "Garage & roof",
    }
    assert Quantity.SOLAR_PRODUCTION_W in capabilities.reads
    assert Quantity.BATTERY_POWER_W not in capabilities.reads


@pytest.mark.anyio
async def test_unknown_device_id_is_reported(device: FroniusStandIn, context: ConnectorContext) -> None:
    connector = open_connector("fronius_solar_api", {"host": device.host, "device_id": 2}, context)

    with pytest.raises(Unsupported, match="no inverter with device id 2"):
        await connector.capabilities()


@pytest.mark.anyio
async def test_the_api_is_read_only(connector: Connector) -> None:
    with pytest.raises(Unsupported, match="read-only"):
        await connector.apply(Command(ControlMode.CHARGE, power_w=2000))
    assert await connector.read_control() == ControlState(ControlMode.SELF_CONSUMPTION)


@pytest.mark.anyio
async def test_slow_device_times_out_as_unreachable(device: FroniusStandIn, connector: Connector) -> None:
    device.state.fault = Fault.SLOW
    started = time.monotonic()

    with pytest.raises(DeviceUnreachable, match=r"timed out|no answer"):
        await connector.read_state()
    assert time.monotonic() - started < IO_TIMEOUT_S + 0.5


@pytest.mark.anyio
async def test_dropped_connection_is_unreachable(device: FroniusStandIn, connector: Connector) -> None:
    device.state.fault = Fault.DROP

    with pytest.raises(DeviceUnreachable, match="disconnected"):
        await connector.read_state()


@pytest.mark.anyio
async def test_refused_connection_is_unreachable(context: ConnectorContext) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago has no listener now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    connector = open_connector("fronius_solar_api", {"host": f"127.0.0.1:{port}"}, context)

    with pytest.raises(DeviceUnreachable):
        await connector.read_state()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Fault.GARBAGE, "not JSON"),
        (Fault.NO_BODY, "no Body"),
        (Fault.EMPTY_BODY, "Body lacks"),
        (Fault.BAD_STATUS, "Code: 12"),
    ],
)
async def test_undecodable_answers_are_malformed(
    device: FroniusStandIn, connector: Connector, fault: Fault, message: str
) -> None:
    device.state.fault = fault

    with pytest.raises(MalformedData, match=message):
        await connector.read_state()


@pytest.mark.anyio
async def test_timestamp_without_offset_is_malformed(device: FroniusStandIn, connector: Connector) -> None:
    device.state.timestamp = datetime(2024, 6, 21, 13, 5, 7)  # naive: the fault under test

    with pytest.raises(MalformedData, match="no UTC offset"):
        await connector.read_state()


@pytest.mark.anyio
@pytest.mark.parametrize("status", [401, 403])
async def test_refused_access_is_rejected_credentials(
    device: FroniusStandIn, connector: Connector, status: int
) -> None:
    device.state.fault = Fault.HTTP_ERROR
    device.state.error_status = status

    with pytest.raises(CredentialsRejected, match=str(status)):
        await connector.read_state()


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "error"), [(503, DeviceUnreachable), (404, Unsupported), (400, MalformedData)])
async def test_other_http_errors(
    device: FroniusStandIn, connector: Connector, status: int, error: type[Exception]
) -> None:
    device.state.fault = Fault.HTTP_ERROR
    device.state.error_status = status

    with pytest.raises(error, match=str(status)):
        await connector.read_state()


@pytest.mark.parametrize(
    ("host", "normalised"),
    [
        ("192.168.1.50", "192.168.1.50"),
        (" 192.168.1.50:8080 ", "192.168.1.50:8080"),
        ("Fronius-Symo.local", "fronius-symo.local"),
        ("inverter:80", "inverter:80"),
        ("fd00::50", "[fd00::50]"),
        ("[FD00:0::50]:8080", "[fd00::50]:8080"),
    ],
)
def test_settings_accept_and_normalise_hosts(host: str, normalised: str) -> None:
    settings = validate_settings("fronius_solar_api", {"host": host})

    assert isinstance(settings, FroniusSettings)
    assert settings.host == normalised
    assert settings.device_id == 1
    assert settings.base_url == f"http://{normalised}"


@pytest.mark.parametrize(
    "host",
    [
        "",
        "http://192.168.1.50",
        "192.168.1.50/solar_api",
        "192.168.1.50?x=1",
        "192.168.1.50#x",
        "admin@192.168.1.50",
        "192.168.1.50:0",
        "192.168.1.50:65536",
        "192.168.1.50:http",
        "192.168.1.50:",
        "192.168.1.300",
        "fronius symo",
        "-fronius.local",
        "fronius_symo",
        "fe80::1%eth0",
        "[fd00::50",
        "[fd00::50]x",
        "fd00::zz",
    ],
)
def test_settings_reject_implausible_hosts(host: str) -> None:
    with pytest.raises(InvalidConnectionSettings, match="host"):
        validate_settings("fronius_solar_api", {"host": host})


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"host": "192.168.1.50", "scheme": "ftp"}, "scheme"),
        ({"host": "192.168.1.50", "device_id": -1}, "device_id"),
        ({"host": "192.168.1.50", "password": "x"}, "password"),
        ({}, "host"),
    ],
)
def test_settings_reject_other_bad_fields(settings: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidConnectionSettings, match=field):
        validate_settings("fronius_solar_api", settings)


@pytest.mark.anyio
async def test_https_scheme_is_used(device: FroniusStandIn, context: ConnectorContext) -> None:
    connector = open_connector("fronius_solar_api", {"host": device.host, "scheme": "https"}, context)

    # The stand-in speaks plain HTTP, so a TLS handshake with it fails: proof the scheme reached the URL.
    with pytest.raises(DeviceUnreachable, match=re.escape(f"https://{device.host}/")):
        await connector.read_state()
