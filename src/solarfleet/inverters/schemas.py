"""The inverter resource as the contract defines it: fields, order, types, defaults, descriptions.

`InverterOut` lists the seed's fields in the seed's order; `InverterDetailOut` adds `actions`.
Descriptions are the seed's where it has one, else the meaning from `inverter-fields.md`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from solarfleet.api.fields import InputModel
from solarfleet.catalogue.schemas import DeviceTypeOut
from solarfleet.prices.zones import DEFAULT_PRICE_ZONE, PriceZone

NEVER = datetime(1, 1, 1, tzinfo=UTC)


class Status(StrEnum):
    ok = "ok"
    warning = "warning"
    error = "error"
    unknown = "unknown"


class BatteryPolicy(StrEnum):
    self_consumption = "Optimize self consumption"
    grid_balancing = "Optimize grid balancing"
    export_all = "Export all"


class DeviceModelOutput(BaseModel):
    device_type: DeviceTypeOut = Field(description="The kind of device: a solar inverter")
    manufacturer: str | None = Field(description="null until the device model is chosen at onboarding")
    model: str | None = Field(default=None, description="The model (series) name")
    cloud_service_instructions: str | None = Field(
        default=None, description="How the end user enables access for solarfleet"
    )
    cloud_service_signup_link: str | None = Field(
        default=None, description="Where the end user signs up for the vendor's service; null for local protocols"
    )
    year: int | None = Field(default=None, description="Year the model (series) came to market")
    cloud_service: uuid.UUID | None = Field(default=None, description="Id of the cloud service in the catalogue")


class OwnerOutput(BaseModel):
    id: uuid.UUID = Field(description="The owning user's id")
    email: str = Field(description="The owning user's email")
    first_name: str | None = Field(default=None, description="The owning user's first name")
    last_name: str | None = Field(default=None, description="The owning user's last name")
    external_id: str | None = Field(default=None, description="The user's external_user_id")


def _status(what: str) -> Any:
    return Field(description=what)


def _w(what: str) -> Any:
    return Field(default=None, description=f"{what}, in W; null until measured")


class InverterOut(BaseModel):
    connection_status: Status = _status(
        "unknown before the first poll; ok when the last poll reached the device; warning after failed polls "
        "below the error threshold; error when unreachable past it or when credentials are rejected"
    )
    monitoring_status: Status = _status(
        "unknown before the first reading; ok when the latest reading is fresh and complete; warning when "
        "stale or partial; error when readings cannot be decoded or none is fresh past the error threshold"
    )
    steering_status: Status = _status(
        "unknown while nothing has been steered; ok when the last command was read back as applied; warning "
        "when unconfirmed after two polls or the device fell back to its own logic; error when commands are "
        "rejected or ignored"
    )
    device_model: DeviceModelOutput = Field(description="From the catalogue, with its cloud service")
    owner: OwnerOutput = Field(description="The user the device belongs to")
    created_at: datetime = Field(description="When the device was registered")
    updated_at: datetime = Field(description="Last change of any stored value of the device")
    price_zone: PriceZone = Field(default=DEFAULT_PRICE_ZONE, description="Bidding zone whose prices steer it")
    id: uuid.UUID | None = Field(default=None, description="The device's id")
    deleted_at: datetime | None = Field(default=None, description="When set, the device is considered deleted.")
    lifecycle_state: str = Field(
        default="authenticated",
        max_length=20,
        description="created (waiting for onboarding) → authenticated (credentials checked) → active (first "
        "reading stored); error (see lifecycle_error); deauthorized (access revoked by the manufacturer)",
    )
    lifecycle_error: str | None = Field(default=None, description="Error metadata when lifecycle_state is 'error'.")
    building: uuid.UUID | None = Field(default=None, description="Building id; its devices are optimised together")
    pause_power_until: datetime | None = Field(
        default=None, description="Paused until then: no export, no battery exchange with the grid"
    )
    is_pause_power_active: bool = Field(
        default=False, description="The pause is in the future and the device confirmed it"
    )
    external_device_id: str | None = Field(
        default="", max_length=255, description="The manufacturer's id or serial of the device"
    )
    is_authenticated: bool | None = Field(default=False, description="The stored credentials work right now")
    is_smart_optimization_active: bool = Field(default=False, description="The optimiser steers this device")
    optimization_score: float | None = Field(
        default=None,
        description="0–100: share of the perfect-foresight savings of the last 30 days that were reached; "
        "null before there is a day of data",
    )
    current_mode: str | None = Field(
        default=None,
        description="What the plan asks of the battery now: self_consumption, charge, hold, discharge, "
        "export, curtail, paused; null when not optimising",
    )
    comment: str | None = Field(default=None, max_length=300, description="The partner's free text")
    current_state_last_updated_at: datetime | None = Field(
        default=None, description="The device's own timestamp of the latest reading"
    )
    last_monitoring_executed_at: datetime | None = Field(
        default=None, description="When solarfleet last tried to poll the device, successful or not"
    )
    is_inverter_forced_mode_enabled: bool = Field(
        default=False, description="The partner allows charging from or discharging to the grid"
    )
    is_inverter_forced_mode_active: bool = Field(default=False, description="A forced command is running now")
    inverter_forced_mode_since: datetime | None = Field(
        default=NEVER, description="Since when a forced command runs; 0001-01-01T00:00:00Z when never"
    )
    is_trading_enabled: bool = Field(default=False, description="Part of the day-ahead trading portfolio")
    actual_steering_state: str = Field(
        default="unknown",
        max_length=20,
        description="What the device really does, from read-back and measured power: self_consumption, "
        "charging, discharging, holding, curtailed, paused, device_control; unknown until known",
    )
    solar_power_rating_kw: float | None = Field(default=None, description="Rated PV power (kWp)")
    battery_capacity_kwh: float | None = Field(default=None, description="Usable battery capacity")
    is_battery_connected: bool | None = Field(default=False, description="A home battery is part of the system")
    is_curtailment_active: bool | None = Field(default=False, description="PV output is limited by solarfleet now")
    max_battery_charge: float | None = Field(default=None, description="Upper SoC limit, %, if user_limits_enabled")
    min_battery_charge: float | None = Field(default=None, description="Lower SoC limit, %, if user_limits_enabled")
    user_limits_enabled: bool | None = Field(default=False, description="min/max_battery_charge are respected")
    information_last_updated_at: datetime | None = Field(
        default=None, description="Last change of rating, capacity or preferences"
    )
    battery_policy: BatteryPolicy | None = Field(
        default=BatteryPolicy.self_consumption, description="What the optimiser may do with the battery"
    )
    battery_policy_last_updated_at: datetime | None = Field(default=None, description="Last change of battery_policy")
    current_solar_production_w: float | None = _w("PV output, never negative")
    current_power_to_grid_w: float | None = _w("Grid power: positive = export, negative = import")
    household_consumption_w: float | None = _w("Household load, never negative")
    solar_surplus_w: float | None = _w("solar − household; negative when the house draws more than the panels give")
    battery_charge_discharge_power_w: float | None = _w("Battery power: positive = discharging, negative = charging")
    battery_charge_level_percent: float | None = Field(default=None, description="Battery state of charge, %")
    production_last_day_kwh: float | None = Field(
        default=None,
        description="PV energy over the trailing 24 h, from the 15-minute boundary at or before now − 24 h (since "
        "monitoring began, for a younger device); from the device's energy counter where it has one; null "
        "before the first reading",
    )
    production_last_week_kwh: float | None = Field(
        default=None, description="PV energy over the trailing 7 days, from the hour at or before; as the day figure"
    )
    production_last_month_kwh: float | None = Field(
        default=None, description="PV energy over the trailing 30 days, from the hour at or before; as the day figure"
    )
    production_last_updated_at: datetime | None = Field(
        default=None, description="As of when the production figures were computed"
    )
    needs_gateway: bool | None = Field(
        default=False,
        description="A gateway on the home network must relay the device: onboarding could not reach it from "
        "solarfleet at the local address the customer gave. Where onboarding did not decide it, true for "
        "device models reachable only on the home network; false (the default) while no model is chosen",
    )
    inferred_max_charge_power_w: float | None = Field(default=None, description="Highest sustained charge power")
    inferred_max_discharge_power_w: float | None = Field(default=None, description="Highest sustained discharge power")
    inferred_min_battery_soc_percent: float | None = Field(default=None, description="Inferred reserve SoC, %")
    inferred_battery_capacity_kwh: float | None = Field(default=None, description="Inferred usable capacity")
    inferred_params_updated_at: datetime | None = Field(
        default=None, description="When the inferred battery parameters were last computed"
    )
    has_ev_in_household: bool | None = Field(
        default=None, description="Household consumption shows electric-vehicle charging; null until known"
    )
    ev_inferred_at: datetime | None = Field(default=None, description="When EV detection last ran")
    ev_inference_confidence: float | None = Field(
        default=None, description="0.0–1.0; saturates at 16 EV-charging bouts in 30 days"
    )
    embeddable_url: str | None = Field(
        default=None,
        description="URL to embeddable onboarding form: the Connect UI page of `authorization_url` without "
        "surrounding chrome, which only the organisation's allowed origins may frame "
        "(`PUT /org/{org_id}/connect-ui`)",
    )
    authorization_url: str | None = Field(
        default=None,
        description="Connect UI address where the end user (re)authorises this device: it connects the device "
        "again with new credentials (or a new local address). Signed, so only holders of the link reach it.",
    )
    action_needed: bool = Field(
        default=False,
        description="True when at least one action is pending against this device and the partner must take "
        "that action before the device can resume normal operation. The actions field on the detail response "
        "carries the specifics.",
    )


class ActionOut(BaseModel):
    action: str = Field(description="What must be done, e.g. `reauthenticate`", examples=["reauthenticate"])
    message: str = Field(description="Why, in words a partner can show")
    resolution_link: str | None = Field(description="Where the end user resolves it (Connect UI), if anywhere")
    created_at: datetime = Field(description="When the action was raised, UTC")


class InverterDetailOut(InverterOut):
    actions: list[ActionOut] = Field(default_factory=list, description="Pending actions, oldest first")


def _utc_in_range(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("date out of range") from None


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc_in_range)]

WRITABLE_FIELDS = frozenset(
    {
        "price_zone",
        "building_id",
        "external_device_id",
        "comment",
        "is_smart_optimization_active",
        "pause_power_until",
        "is_inverter_forced_mode_enabled",
        "is_trading_enabled",
        "solar_power_rating_kw",
        "is_battery_connected",
        "battery_capacity_kwh",
        "min_battery_charge",
        "max_battery_charge",
        "user_limits_enabled",
        "battery_policy",
    }
)
READ_ONLY_FIELDS = frozenset(InverterDetailOut.model_fields) - WRITABLE_FIELDS


class InverterWritable(InputModel):
    price_zone: PriceZone = None
    building_id: uuid.UUID | None = None
    external_device_id: str | None = Field(default=None, max_length=255)
    comment: str | None = Field(default=None, max_length=300)
    is_smart_optimization_active: bool = None
    pause_power_until: UtcDatetime | None = None
    is_inverter_forced_mode_enabled: bool = None
    is_trading_enabled: bool = None
    solar_power_rating_kw: float | None = Field(default=None, ge=0, le=10_000)
    is_battery_connected: bool = None
    battery_capacity_kwh: float | None = Field(
        default=None,
        gt=0,
        le=10_000,
        description="Required when is_battery_connected and no capacity is known",
    )
    min_battery_charge: float | None = Field(default=None, ge=0, le=100)
    max_battery_charge: float | None = Field(default=None, ge=0, le=100)
    user_limits_enabled: bool = None
    battery_policy: BatteryPolicy = None

    @model_validator(mode="before")
    @classmethod
    def _refuse_read_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            sent = sorted(READ_ONLY_FIELDS.intersection(data))
            if sent:
                # One error per field, located at that field, as for any other invalid member.
                raise ValidationError.from_exception_data(
                    cls.__name__,
                    [
                        InitErrorDetails(
                            type=PydanticCustomError(
                                "read_only", "{field} is read-only: solarfleet computes it", {"field": name}
                            ),
                            loc=(name,),
                            input=data[name],
                        )
                        for name in sent
                    ],
                )
        return data


class InverterCreate(InverterWritable):
    device_model_id: uuid.UUID | None = Field(
        default=None,
        description="From GET /catalogue/device-models; may be left to the end user's onboarding",
    )


class InverterUpdate(InverterWritable):
    pass


class DeviceFlagsUpdate(InputModel):
    is_smart_optimization_active: bool = None
    is_authenticated: bool = Field(
        default=None, description="Only false may be set: it asks the end user to re-authenticate the device"
    )
    is_inverter_forced_mode_enabled: bool = None
    is_forecasting_enabled: bool = None
    comment: str | None = Field(default=None, max_length=300)
