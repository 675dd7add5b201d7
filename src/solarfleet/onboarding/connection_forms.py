"""What the Connect UI asks for each way of connecting a device, and how the answers become the
connector's settings. The connector's own settings model then validates them, so the rules for an
address or an API key live in one place."""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from solarfleet.demo import home_parameters
from solarfleet.onboarding.i18n import N_
from solarfleet.prices.zones import PriceZone


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    label: str
    help: str | None = None
    input_type: str = "text"
    required: bool = True
    default: str = ""
    inputmode: str | None = None
    # A secret is never written back into a page, not even after a mistake elsewhere in the form.
    secret: bool = False


@dataclass(frozen=True, slots=True)
class FormContext:
    """What turning answers into settings may need besides the answers: where the home is (the
    simulator's sun) and the operator's vendor API addresses."""

    zone: PriceZone
    latitude: float
    longitude: float
    solaredge_api_url: str | None = None


class FormValueError(ValueError):
    """A value the form itself cannot read (before the connector's settings model sees it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class ConnectionForm:
    connector: str
    fields: tuple[FormField, ...]
    # The device is reached at an address on the customer's home network (a gateway may have to relay it).
    local_address: bool
    settings: Callable[[Mapping[str, str], FormContext], dict[str, Any]]
    # The form field a settings error belongs to, by the first part of its location, where names differ.
    field_of_setting: Mapping[str, str] = field(default_factory=dict)

    def field_for(self, location: tuple[Any, ...]) -> str:
        name = str(location[0]) if location else ""
        name = self.field_of_setting.get(name, name)
        return name if any(f.name == name for f in self.fields) else self.fields[0].name


def _as_given(names: tuple[str, ...]) -> Callable[[Mapping[str, str], FormContext], dict[str, Any]]:
    """Settings named like the fields; empty optional fields are left to the connector's defaults."""

    def build(values: Mapping[str, str], _context: FormContext) -> dict[str, Any]:
        return {name: values[name].strip() for name in names if values.get(name, "").strip()}

    return build


def _number(values: Mapping[str, str], name: str) -> float | None:
    text = values.get(name, "").strip().replace(",", ".")  # a decimal comma, as German keyboards type it
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise FormValueError(name, N_("Enter a number.")) from None


def _solaredge_site(values: Mapping[str, str], context: FormContext) -> dict[str, Any]:
    settings = _as_given(("api_key", "site_id"))(values, context)
    if context.solaredge_api_url:
        settings["base_url"] = context.solaredge_api_url
    return settings


def _simulated_home(values: Mapping[str, str], context: FormContext) -> dict[str, Any]:
    # A fresh seed names a new simulated home; its sizes are the customer's, the rest drawn plausibly.
    seed = secrets.randbits(62)
    battery_kwh = _number(values, "battery_kwh")
    parameters = home_parameters(
        random.Random(seed),  # noqa: S311 - plausible house details, not secrets
        seed,
        context.zone,
        context.latitude,
        context.longitude,
        pv_kwp=_number(values, "pv_kwp"),
        battery_kwh=battery_kwh or None,
    )
    return parameters.model_dump(mode="json")


_HOST_HELP = N_("The inverter's address on your home network, e.g. 192.168.1.50. Your router's device list shows it.")

FORMS: dict[str, ConnectionForm] = {
    form.connector: form
    for form in (
        ConnectionForm(
            "solaredge_monitoring",
            (
                FormField(
                    "api_key",
                    N_("API key"),
                    N_("32 letters and digits, from Admin → Site Access → API Access in the SolarEdge portal."),
                    input_type="password",
                    secret=True,
                ),
                FormField("site_id", N_("Site id"), N_("The number shown beside the API key."), inputmode="numeric"),
            ),
            local_address=False,
            settings=_solaredge_site,
        ),
        ConnectionForm(
            "fronius_solar_api",
            (
                FormField("host", N_("Local address of the inverter"), _HOST_HELP),
                FormField(
                    "device_id",
                    N_("Solar Net device id"),
                    N_("Leave it at 1 unless your installer set another."),
                    required=False,
                    default="1",
                    inputmode="numeric",
                ),
            ),
            local_address=True,
            settings=_as_given(("host", "device_id")),
        ),
        ConnectionForm(
            "sunspec_modbus_tcp",
            (
                FormField("host", N_("Local address of the inverter"), _HOST_HELP),
                FormField("port", N_("Modbus TCP port"), required=False, default="502", inputmode="numeric"),
                FormField(
                    "unit_id",
                    N_("Modbus unit id"),
                    N_("Usually 1 (SMA: 3, Kostal: 71)."),
                    required=False,
                    default="1",
                    inputmode="numeric",
                ),
            ),
            local_address=True,
            settings=_as_given(("host", "port", "unit_id")),
        ),
        ConnectionForm(
            "simulator",
            (
                FormField("pv_kwp", N_("Peak power of the PV system (kWp)"), default="6", inputmode="decimal"),
                FormField(
                    "battery_kwh",
                    N_("Battery capacity (kWh)"),
                    N_("Leave it empty for a home without a battery."),
                    required=False,
                    default="10",
                    inputmode="decimal",
                ),
            ),
            local_address=False,
            settings=_simulated_home,
            # The battery's own model names its sizes; all of them follow from the capacity asked for.
            field_of_setting=dict.fromkeys(
                ("battery", "capacity_kwh", "max_charge_w", "max_discharge_w"), "battery_kwh"
            ),
        ),
    )
}
