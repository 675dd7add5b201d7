"""The SunSpec Modbus TCP connector: the pure decoder, and the connector against a real pymodbus server on
127.0.0.1 whose SunSpec image a simulated home drives (see stand_ins.sunspec)."""

from __future__ import annotations

import string
import struct
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sunspec2 import device, mdef

from solarfleet.connectors.base import (
    Command,
    ControlMode,
    DeviceUnreachable,
    MalformedData,
    Quantity,
    Reading,
    Unsupported,
)
from solarfleet.connectors.registry import (
    ConnectorContext,
    InvalidConnectionSettings,
    open_connector,
    validate_settings,
)
from solarfleet.connectors.simulator.clock import SimulationClock
from solarfleet.connectors.simulator.home import BatterySpec, HomeParameters, SimulatedHome
from solarfleet.connectors.sunspec import (
    SUPPORTED_MODELS,
    SunSpecConnector,
    control_writes,
    decode_model,
    decode_value,
    encode_value,
    model_definition,
    reading_from_models,
    scaled,
    unscaled,
)
from stand_ins.sunspec import DEFAULT_MODELS, DER_MODELS, ENERGY_BEFORE_WH, SunSpecStandIn

IO_TIMEOUT_S = 2.0  # generous: loopback answers in milliseconds, but CI machines stall
SHORT_TIMEOUT_S = 0.5  # for the test that waits for a timeout
BATTERY = BatterySpec(capacity_kwh=10, max_charge_w=5000, max_discharge_w=5000, reserve_percent=10)
NOON = datetime(2024, 6, 21, 10, 0, tzinfo=UTC)  # Vienna, midsummer: plenty of sun
EVENING = datetime(2024, 6, 21, 20, 0, tzinfo=UTC)  # after sunset: the battery serves the house
MIDNIGHT = datetime(2024, 6, 21, 0, 0, tzinfo=UTC)
NOW = datetime(2024, 6, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _registers(model: device.Model) -> list[int]:
    data = model.get_mb()
    return list(struct.unpack(f">{len(data) // 2}H", data))


def _encoded(model_id: int, **values: Any) -> list[int]:
    """A model block encoded by pysunspec2 itself, so the decoder is checked against an independent encoder."""
    return _registers(device.Model(model_id, data=values))


# -- the pure decoder ---------------------------------------------------------------------------------


def test_every_supported_model_has_the_layout_pysunspec2_encodes() -> None:
    for model_id in SUPPORTED_MODELS:
        block = _encoded(model_id)
        assert model_definition(model_id).length == len(block), model_id
        assert block[:2] == [model_id, len(block) - 2]


def test_scale_factors_are_powers_of_ten() -> None:
    points = decode_model(103, _encoded(103, W=-123, W_SF=1, Hz=5002, Hz_SF=-2, WH=77, WH_SF=0, A=15, A_SF=None))

    assert points["W"] == -1230
    assert points["Hz"] == 50.02
    assert points["WH"] == 77
    # SunSpec: a point whose scale factor is not implemented is not implemented either.
    assert points["A"] is None


def test_a_scale_factor_outside_the_specified_range_is_malformed() -> None:
    with pytest.raises(MalformedData, match="W_SF"):
        decode_model(103, _encoded(103, W=100, W_SF=11))


@pytest.mark.parametrize(
    ("point_type", "registers"),
    [
        ("int16", [0x8000]),
        ("uint16", [0xFFFF]),
        ("count", [0xFFFF]),
        ("acc16", [0]),
        ("enum16", [0xFFFF]),
        ("bitfield16", [0xFFFF]),
        ("sunssf", [0x8000]),
        ("int32", [0x8000, 0]),
        ("uint32", [0xFFFF, 0xFFFF]),
        ("acc32", [0, 0]),
        ("enum32", [0xFFFF, 0xFFFF]),
        ("bitfield32", [0xFFFF, 0xFFFF]),
        ("uint64", [0xFFFF] * 4),
        ("int64", [0x8000, 0, 0, 0]),
        ("acc64", [0] * 4),
        ("float32", [0x7FC0, 0]),
        ("float32", [0xFFC0, 0x1234]),  # any NaN
        ("float64", [0x7FF8, 0, 0, 0]),
        ("string", [0] * 8),
        ("string", [0x0041, 0x4200]),  # a leading NUL, whatever follows
    ],
)
def test_not_implemented_sentinels_decode_as_missing(point_type: str, registers: list[int]) -> None:
    assert decode_value(point_type, registers) is None


@pytest.mark.parametrize(
    ("point_type", "registers", "expected"),
    [
        ("int16", [0xFFFF], -1),
        ("uint16", [0x8000], 32768),
        ("count", [3], 3),
        ("acc16", [7], 7),
        ("enum16", [4], 4),
        ("bitfield16", [0b11], 3),
        ("sunssf", [0xFFFE], -2),
        ("int32", [0xFFFF, 0xFFFE], -2),
        ("uint32", [1, 0], 65536),
        ("acc32", [0, 5], 5),
        ("bitfield32", [0x8000, 1], 0x80000001),
        ("uint64", [0, 0, 1, 0], 65536),
        ("int64", [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF], -1),
        ("float32", [0x4148, 0], 12.5),
        ("float32", [0x4EFF, 0x8000], 2143289344.0),  # the float sentinel's bit pattern read as a number
        ("float64", [0x4029, 0, 0, 0], 12.5),
        ("string", [0x4672, 0x6F6E, 0x6975, 0x7300, 0, 0], "Fronius"),
        ("string", [0x5345, 0x2D31, 0x2020, 0x2020], "SE-1"),  # space padded
        ("pad", [0x1234], 0x1234),
    ],
)
def test_each_point_type_decodes(point_type: str, registers: list[int], expected: object) -> None:
    assert decode_value(point_type, registers) == expected


# Values each type can carry, without its "not implemented" sentinel.
_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "int16": st.integers(-(2**15) + 1, 2**15 - 1),
    "uint16": st.integers(0, 2**16 - 2),
    "count": st.integers(0, 2**16 - 2),
    "acc16": st.integers(1, 2**16 - 1),
    "enum16": st.integers(0, 2**16 - 2),
    "bitfield16": st.integers(0, 2**16 - 2),
    "sunssf": st.integers(-10, 10),
    "pad": st.integers(0, 2**16 - 1),
    "int32": st.integers(-(2**31) + 1, 2**31 - 1),
    "uint32": st.integers(0, 2**32 - 2),
    "acc32": st.integers(1, 2**32 - 1),
    "enum32": st.integers(0, 2**32 - 2),
    "bitfield32": st.integers(0, 2**32 - 2),
    "ipaddr": st.integers(1, 2**32 - 1),
    "int64": st.integers(-(2**63) + 1, 2**63 - 1),
    "uint64": st.integers(0, 2**64 - 2),
    "acc64": st.integers(1, 2**64 - 1),
    "float32": st.floats(width=32, allow_nan=False),
    "float64": st.floats(allow_nan=False),
    "string": st.text(string.ascii_letters + string.digits + " -._", min_size=1, max_size=16)
    .map(str.strip)
    .filter(bool),
}


@given(data=st.data(), point_type=st.sampled_from(sorted(_VALUES)))
def test_encode_then_decode_gives_the_value_back(data: st.DataObject, point_type: str) -> None:
    value = data.draw(_VALUES[point_type], label="value")
    size = 8 if point_type == "string" else mdef.point_type_info[point_type]["len"]

    registers = encode_value(point_type, value, size)

    assert len(registers) == size
    assert all(0 <= r <= 0xFFFF for r in registers)
    assert decode_value(point_type, registers) == value
    # None encodes the sentinel, which decodes as missing again.
    if point_type != "pad":
        assert decode_value(point_type, encode_value(point_type, None, size)) is None


@given(raw=st.integers(-(2**15) + 1, 2**15 - 1), exponent=st.integers(-10, 10))
def test_scaling_round_trips_within_the_resolution_of_the_scale_factor(raw: int, exponent: int) -> None:
    assert unscaled(scaled(raw, exponent), exponent) == raw


def test_a_value_that_does_not_fit_its_type_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        encode_value("int16", 40000, 1)
    with pytest.raises(ValueError, match="not implemented"):
        encode_value("uint16", 0xFFFF, 1)


@given(
    modules=st.lists(st.integers(0, 0xFFFE), max_size=6),
    exponent=st.integers(-3, 3),
)
def test_repeating_groups_take_their_count_from_the_model_length(modules: list[int], exponent: int) -> None:
    block = _encoded(160, DCW_SF=exponent, N=len(modules), module=[{"ID": i, "DCW": w} for i, w in enumerate(modules)])

    points = decode_model(160, block)

    assert [m["ID"] for m in points["module"]] == list(range(len(modules)))
    assert [m["DCW"] for m in points["module"]] == [scaled(w, exponent) for w in modules]


def test_groups_that_do_not_fill_the_model_are_malformed() -> None:
    block = _encoded(160, DCW_SF=0, module=[{"ID": 1, "DCW": 5}])
    block[1] += 3  # three registers more than one module

    with pytest.raises(MalformedData, match="module"):
        decode_model(160, [*block, 0, 0, 0])


def test_common_model_strings_and_a_legacy_length() -> None:
    block = _encoded(1, Mn="SunSpecTest", Md="Hybrid 8.0", Vr="2.1.4", SN="SN-0042")

    assert decode_model(1, block) == {
        "ID": 1,
        "L": 66,
        "Mn": "SunSpecTest",
        "Md": "Hybrid 8.0",
        "Opt": None,
        "Vr": "2.1.4",
        "SN": "SN-0042",
        "DA": None,
    }
    # Older devices announce 65 registers: the pad at the end is missing, everything else is there.
    legacy = [1, 65, *block[2:67]]
    assert decode_model(1, legacy)["SN"] == "SN-0042"


def test_float_models_and_their_nan_sentinel() -> None:
    points = decode_model(113, _encoded(113, W=-1234.5, WH=9.5e6, Hz=None))

    assert points["W"] == -1234.5
    assert points["WH"] == 9.5e6
    assert points["Hz"] is None


def test_a_block_that_is_not_the_model_or_is_cut_short_is_malformed() -> None:
    block = _encoded(124)
    with pytest.raises(MalformedData, match="id"):
        decode_model(123, block)
    with pytest.raises(MalformedData, match="length"):
        decode_model(124, block[:10])


# -- from models to a reading (pure) -------------------------------------------------------------------


def test_sunspec_signs_become_solarfleet_signs() -> None:
    models = {
        103: {"W": 2000.0, "WH": 5_000_000},
        160: {
            "module": [
                {"IDStr": "String 1", "DCW": 2500.0},
                {"IDStr": "StCha 3", "DCW": 700.0},  # the battery's port: not PV
                {"IDStr": "StDisCha 4", "DCW": 0.0},
            ]
        },
        203: {"W": 300.0},  # the meter: importing 300 W
        802: {"W": -700.0, "SoC": 61.5},  # the battery: charging with 700 W
    }

    reading = reading_from_models(models, NOW)

    assert reading.solar_production_w == 2500
    assert reading.power_to_grid_w == -300
    assert reading.battery_charge_discharge_power_w == -700
    assert reading.battery_charge_level_percent == 61.5
    assert reading.solar_energy_wh == 5_000_000
    assert reading.household_consumption_w is None  # left to the power balance
    assert reading.reported == {
        Quantity.SOLAR_PRODUCTION_W,
        Quantity.POWER_TO_GRID_W,
        Quantity.BATTERY_POWER_W,
        Quantity.BATTERY_SOC_PERCENT,
        Quantity.SOLAR_ENERGY_WH,
    }


def test_pv_from_the_ac_output_when_there_is_no_mppt_model() -> None:
    # A hybrid's AC output is PV plus battery: PV is computed, not reported.
    hybrid = reading_from_models({103: {"W": 1500.0}, 802: {"W": 400.0, "SoC": 50.0}}, NOW)
    assert hybrid.solar_production_w == 1100
    assert Quantity.SOLAR_PRODUCTION_W in hybrid.computed

    # A PV-only inverter's AC output is its PV production; its standby draw at night is no production.
    assert reading_from_models({101: {"W": 900.0}}, NOW).reported == {Quantity.SOLAR_PRODUCTION_W}
    assert reading_from_models({101: {"W": -4.0}}, NOW).solar_production_w == 0

    # With a battery whose power is unknown, PV cannot be told apart from it.
    assert reading_from_models({103: {"W": 1500.0}, 124: {"ChaState": 40.0}}, NOW).solar_production_w is None


def test_state_of_charge_falls_back_from_802_to_713_to_124() -> None:
    assert reading_from_models({713: {"SoC": 33.0}, 124: {"ChaState": 44.0}}, NOW).battery_charge_level_percent == 33
    assert reading_from_models({124: {"ChaState": 44.0}}, NOW).battery_charge_level_percent == 44


def test_the_register_conventions_of_each_command() -> None:
    models = {
        120: {"WRtg": 8000},
        123: {"WMaxLimPct": 100.0, "WMaxLim_Ena": 0, "WMaxLimPct_RvrtTms": 0},
        124: {"WChaMax": 5000, "StorCtl_Mod": 0, "InWRte": 100.0, "OutWRte": 100.0, "InOutWRte_RvrtTms": 0},
    }
    five_minutes = timedelta(minutes=5)

    assert control_writes(Command(ControlMode.CHARGE, power_w=3000, revert_after=five_minutes), models) == [
        (123, [("WMaxLim_Ena", 0)]),
        (124, [("OutWRte", -60.0), ("InWRte", 60.0), ("InOutWRte_RvrtTms", 300), ("StorCtl_Mod", 3)]),
    ]
    assert control_writes(Command(ControlMode.DISCHARGE, power_w=1000), models)[1] == (
        124,
        [("OutWRte", 20.0), ("InWRte", -20.0), ("InOutWRte_RvrtTms", 0), ("StorCtl_Mod", 3)],
    )
    assert control_writes(Command(ControlMode.HOLD), models)[1][1][:2] == [("OutWRte", 0.0), ("InWRte", 0.0)]
    assert control_writes(Command(ControlMode.SELF_CONSUMPTION), models)[1] == (
        124,
        [("OutWRte", 100.0), ("InWRte", 100.0), ("StorCtl_Mod", 0)],
    )
    assert control_writes(Command(ControlMode.CURTAIL, limit_w=2000, revert_after=five_minutes), models) == [
        (124, [("OutWRte", 100.0), ("InWRte", 100.0), ("StorCtl_Mod", 0)]),
        (123, [("WMaxLimPct", 25.0), ("WMaxLimPct_RvrtTms", 300), ("WMaxLim_Ena", 1)]),
    ]
    with pytest.raises(Unsupported, match="export limit"):
        control_writes(Command(ControlMode.PAUSE), models)


# -- settings and registration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings_in", "field"),
    [
        ({"host": "inverter.local:502"}, "host"),
        ({"host": "http://10.0.0.5"}, "host"),
        ({"host": "10.0.0.300"}, "host"),
        ({"host": "-bad-.lan"}, "host"),
        ({"host": "10.0.0.5", "port": 0}, "port"),
        ({"host": "10.0.0.5", "port": 70000}, "port"),
        ({"host": "10.0.0.5", "unit_id": 248}, "unit_id"),
        ({"host": "10.0.0.5", "password": "x"}, "password"),
    ],
)
def test_settings_are_validated(settings_in: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidConnectionSettings) as error:
        validate_settings("sunspec_modbus_tcp", settings_in)
    assert error.value.errors[0]["loc"] == (field,)


def test_settings_defaults_and_host_forms() -> None:
    settings_out = validate_settings("sunspec_modbus_tcp", {"host": " Inverter-7.Home.Arpa "})
    assert settings_out.model_dump() == {"host": "inverter-7.home.arpa", "port": 502, "unit_id": 1}
    assert validate_settings("sunspec_modbus_tcp", {"host": "fd00::0:5", "unit_id": 0}).host == "fd00::5"


# -- against the stand-in ------------------------------------------------------------------------------


def _home(*, battery: bool = True) -> SimulatedHome:
    parameters = HomeParameters(
        seed=11,
        latitude=48.21,
        longitude=16.37,
        pv_kwp=8.0,
        battery=BATTERY if battery else None,
        measurement_noise=0.0,
    )
    return SimulatedHome(parameters)


@asynccontextmanager
async def _device(
    origin: datetime,
    *,
    battery: bool = True,
    models: Sequence[int] = DEFAULT_MODELS,
    io_timeout_s: float = IO_TIMEOUT_S,
    **options: Any,
) -> AsyncIterator[tuple[SunSpecStandIn, SunSpecConnector]]:
    clock = SimulationClock.stepped(origin)
    async with SunSpecStandIn(_home(battery=battery), clock, models=models, **options) as stand_in:
        context = ConnectorContext(io_timeout_s=io_timeout_s)
        connector = open_connector("sunspec_modbus_tcp", {"host": "127.0.0.1", "port": stand_in.port}, context)
        assert isinstance(connector, SunSpecConnector)
        try:
            yield stand_in, connector
        finally:
            await connector.close()


def _later(stand_in: SunSpecStandIn, minutes: int) -> None:
    stand_in.clock.advance(timedelta(minutes=minutes))


@pytest.mark.anyio
@pytest.mark.parametrize("base", [40000, 0, 50000])
async def test_discovery_finds_the_map_at_each_base_address(base: int) -> None:
    async with _device(NOON, base=base) as (_, connector):
        sunspec = await connector.discover()

    assert sunspec.base == base
    assert [m.model_id for m in sunspec.models] == list(DEFAULT_MODELS)
    assert sunspec.models[0].address == base + 2


@pytest.mark.anyio
async def test_without_a_suns_marker_the_device_is_unsupported() -> None:
    async with _device(NOON, marker=False) as (_, connector):
        with pytest.raises(Unsupported, match=r"no SunSpec map at 40000, 0 or 50000.*enable SunSpec Modbus"):
            await connector.read_state()


def _assert_matches(reading: Reading, stand_in: SunSpecStandIn) -> None:
    truth = stand_in.home.advance_to(stand_in.clock.now())
    assert reading.solar_production_w == pytest.approx(truth.solar_w, abs=0.1)  # DCW_SF = −1 per string
    assert reading.power_to_grid_w == pytest.approx(truth.grid_w, abs=0.5)
    assert reading.battery_charge_discharge_power_w == pytest.approx(truth.battery_w, abs=0.5)
    assert reading.battery_charge_level_percent == pytest.approx(truth.soc_percent, abs=0.05)
    assert reading.solar_energy_wh == pytest.approx(ENERGY_BEFORE_WH + truth.solar_energy_wh, abs=0.5)
    # With solarfleet's signs the balance gives the house's consumption.
    balance = reading.solar_production_w + reading.battery_charge_discharge_power_w - reading.power_to_grid_w
    assert balance == pytest.approx(truth.household_w, abs=1.5)


@pytest.mark.anyio
async def test_readings_through_a_day_match_the_simulated_home() -> None:
    async with _device(MIDNIGHT) as (stand_in, connector):
        for _ in range(16):
            before = datetime.now(UTC)
            reading = await connector.read_state()

            _assert_matches(reading, stand_in)
            assert before <= reading.time <= datetime.now(UTC)  # taken when the read completes, in UTC
            assert reading.reported == {
                Quantity.SOLAR_PRODUCTION_W,
                Quantity.POWER_TO_GRID_W,
                Quantity.BATTERY_POWER_W,
                Quantity.BATTERY_SOC_PERCENT,
                Quantity.SOLAR_ENERGY_WH,
            }
            _later(stand_in, 89)


@pytest.mark.anyio
async def test_capabilities_from_the_nameplate_models() -> None:
    async with _device(NOON) as (_, connector):
        capabilities = await connector.capabilities()

    assert capabilities.identity == {
        "manufacturer": "solarfleet",
        "model": "simulated home",
        "serial": "SIM-11",
        "version": "1.0.0",
    }
    assert capabilities.ac_limit_w == 8000
    assert capabilities.battery is not None
    assert capabilities.battery.capacity_wh == 10_000
    assert capabilities.battery.max_charge_w == 5000
    assert capabilities.battery.max_discharge_w == 5000
    assert capabilities.battery.reserve_percent == 10
    assert capabilities.controls == set(ControlMode) - {ControlMode.PAUSE}
    assert capabilities.reads == set(Quantity) - {Quantity.HOUSEHOLD_CONSUMPTION_W}


@pytest.mark.anyio
async def test_charging_at_3_kw_charges_the_simulated_battery() -> None:
    async with _device(EVENING) as (stand_in, connector):
        before = await connector.read_state()
        assert before.battery_charge_discharge_power_w > 0  # after sunset the battery serves the house

        await connector.apply(Command(ControlMode.CHARGE, power_w=3000))
        _later(stand_in, 5)
        after = await connector.read_state()
        control = await connector.read_control()

    assert after.battery_charge_discharge_power_w == pytest.approx(-3000, abs=1)
    assert after.battery_charge_level_percent > before.battery_charge_level_percent + 2
    assert after.power_to_grid_w < -3000  # the charge comes from the grid
    assert control.mode is ControlMode.CHARGE
    assert control.power_w == pytest.approx(3000, abs=1)
    assert control.reverts_at is None


@pytest.mark.anyio
async def test_discharging_and_the_device_clamping_to_what_it_can() -> None:
    async with _device(EVENING) as (stand_in, connector):
        before = await connector.read_state()
        await connector.apply(Command(ControlMode.DISCHARGE, power_w=2000))
        _later(stand_in, 5)
        after = await connector.read_state()
        assert after.battery_charge_discharge_power_w == pytest.approx(2000, abs=1)
        assert after.battery_charge_level_percent < before.battery_charge_level_percent
        assert after.power_to_grid_w > 0  # what the house does not use is exported
        assert (await connector.read_control()).power_w == pytest.approx(2000, abs=1)

        # More than the battery can take: read_control shows what the device has in force, not what was sent.
        await connector.apply(Command(ControlMode.DISCHARGE, power_w=7000))
        control = await connector.read_control()

    assert control.mode is ControlMode.DISCHARGE
    assert control.power_w == pytest.approx(5000, abs=1)


@pytest.mark.anyio
async def test_hold_keeps_the_battery_idle() -> None:
    async with _device(EVENING) as (stand_in, connector):
        await connector.apply(Command(ControlMode.HOLD))
        _later(stand_in, 1)
        first = await connector.read_state()
        _later(stand_in, 10)
        later = await connector.read_state()
        control = await connector.read_control()

    assert first.battery_charge_discharge_power_w == 0
    assert later.battery_charge_level_percent == first.battery_charge_level_percent
    assert control.mode is ControlMode.HOLD


@pytest.mark.anyio
async def test_after_the_revert_timeout_the_device_is_back_to_self_consumption() -> None:
    async with _device(EVENING) as (stand_in, connector):
        await connector.apply(Command(ControlMode.CHARGE, power_w=3000, revert_after=timedelta(minutes=5)))
        sent = datetime.now(UTC)
        control = await connector.read_control()
        assert control.mode is ControlMode.CHARGE
        assert abs(control.reverts_at - (sent + timedelta(minutes=5))) < timedelta(seconds=5)

        _later(stand_in, 6)
        reverted = await connector.read_control()
        reading = await connector.read_state()

    assert reverted.mode is ControlMode.SELF_CONSUMPTION
    assert reading.battery_charge_discharge_power_w > 0  # serving the house again


@pytest.mark.anyio
async def test_curtailment_limits_pv_and_self_consumption_lifts_it() -> None:
    async with _device(NOON) as (stand_in, connector):
        unlimited = await connector.read_state()
        assert unlimited.solar_production_w > 2500

        await connector.apply(Command(ControlMode.CURTAIL, limit_w=1000))
        _later(stand_in, 2)
        curtailed = await connector.read_state()
        control = await connector.read_control()

        await connector.apply(Command(ControlMode.SELF_CONSUMPTION))
        _later(stand_in, 2)
        lifted = await connector.read_state()
        after = await connector.read_control()

    assert curtailed.solar_production_w == pytest.approx(1000, abs=0.2)
    assert control.mode is ControlMode.CURTAIL
    assert control.limit_w == pytest.approx(1000, abs=1)
    assert lifted.solar_production_w > 2500
    assert after.mode is ControlMode.SELF_CONSUMPTION


@pytest.mark.anyio
async def test_the_der_models_701_702_704_713() -> None:
    async with _device(NOON, models=DER_MODELS) as (stand_in, connector):
        reading = await connector.read_state()
        _assert_matches(reading, stand_in)
        capabilities = await connector.capabilities()
        # 704 limits the output; without 124 there are no battery controls.
        assert capabilities.controls == {ControlMode.SELF_CONSUMPTION, ControlMode.CURTAIL}
        assert capabilities.battery is not None
        assert capabilities.battery.capacity_wh == 10_000

        await connector.apply(Command(ControlMode.CURTAIL, limit_w=2000, revert_after=timedelta(minutes=10)))
        _later(stand_in, 4)
        control = await connector.read_control()
        curtailed = await connector.read_state()
        with pytest.raises(Unsupported, match="model 124"):
            await connector.apply(Command(ControlMode.CHARGE, power_w=1000))

    assert control.mode is ControlMode.CURTAIL
    assert control.limit_w == pytest.approx(2000, abs=1)
    # 704 reports the time left itself (WMaxLimPctRvrtRem): six of ten minutes.
    assert abs(control.reverts_at - (datetime.now(UTC) + timedelta(minutes=6))) < timedelta(seconds=5)
    assert curtailed.solar_production_w == pytest.approx(2000, abs=0.2)


@pytest.mark.anyio
async def test_a_float_inverter_without_mppt_model_or_battery() -> None:
    async with _device(NOON, battery=False, models=(1, 113, 120, 123, 203)) as (stand_in, connector):
        reading = await connector.read_state()
        capabilities = await connector.capabilities()
        with pytest.raises(Unsupported, match="model 124"):
            await connector.apply(Command(ControlMode.CHARGE, power_w=3000))
        truth = stand_in.home.advance_to(stand_in.clock.now())

    assert reading.solar_production_w == pytest.approx(truth.solar_w, abs=0.01)  # the AC output, float32
    assert reading.power_to_grid_w == pytest.approx(truth.grid_w, abs=0.5)
    assert reading.battery_charge_discharge_power_w is None
    assert reading.reported == {Quantity.SOLAR_PRODUCTION_W, Quantity.POWER_TO_GRID_W, Quantity.SOLAR_ENERGY_WH}
    assert capabilities.battery is None
    assert capabilities.controls == {ControlMode.SELF_CONSUMPTION, ControlMode.CURTAIL}


@pytest.mark.anyio
async def test_points_the_device_does_not_implement_are_missing() -> None:
    async with _device(NOON) as (stand_in, connector):
        stand_in.unimplemented = {(802, "W")}
        without_battery_power = await connector.read_state()

        stand_in.unimplemented = {(160, "DCW")}
        without_mppt = await connector.read_state()
        truth = stand_in.home.advance_to(stand_in.clock.now())

    assert without_battery_power.battery_charge_discharge_power_w is None
    assert Quantity.BATTERY_POWER_W not in without_battery_power.reported
    assert without_battery_power.solar_production_w == pytest.approx(truth.solar_w, abs=0.1)
    # No DC power per input: PV is the AC output (W_SF = 1) minus the battery, and computed, not reported.
    assert without_mppt.solar_production_w == pytest.approx(truth.solar_w, abs=5.5)
    assert without_mppt.computed == {Quantity.SOLAR_PRODUCTION_W}


@pytest.mark.anyio
async def test_pause_is_unsupported() -> None:
    async with _device(NOON) as (stand_in, connector):
        with pytest.raises(Unsupported, match="pause"):
            await connector.apply(Command(ControlMode.PAUSE))
        assert stand_in.writes == []


@pytest.mark.anyio
async def test_a_slow_device_times_out_and_the_next_poll_reconnects() -> None:
    async with _device(NOON, io_timeout_s=SHORT_TIMEOUT_S) as (stand_in, connector):
        await connector.read_state()
        stand_in.delay_s = 10 * SHORT_TIMEOUT_S  # cut short when the stand-in stops
        with pytest.raises(DeviceUnreachable, match=r"no answer within 0\.5 s"):
            await connector.read_state()

        stand_in.delay_s = 0
        _assert_matches(await connector.read_state(), stand_in)


@pytest.mark.anyio
async def test_a_dropped_connection_is_unreachable_at_once_and_reopened() -> None:
    async with _device(NOON) as (stand_in, connector):
        await connector.read_state()
        stand_in.drop = True
        started = time.monotonic()
        with pytest.raises(DeviceUnreachable, match="closed the connection"):
            await connector.read_state()
        assert time.monotonic() - started < IO_TIMEOUT_S  # noticed without waiting for the timeout

        stand_in.drop = False
        _assert_matches(await connector.read_state(), stand_in)


@pytest.mark.anyio
async def test_a_device_that_is_gone_is_unreachable() -> None:
    async with _device(NOON) as (_, connector):
        await connector.read_state()
    # The stand-in has stopped: the connection is gone and reconnecting is refused.
    with pytest.raises(DeviceUnreachable, match="cannot connect"):
        await connector.read_state()
