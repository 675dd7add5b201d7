"""Catalogue responses, and the device-model object embedded in every inverter."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from solarfleet.api.fields import OutputModel

DEVICE_TYPE_NAMES = {"inverter": "Solar Inverter"}


class DeviceTypeOut(BaseModel):
    short_name: str = Field(examples=["inverter"])
    long_name: str = Field(examples=["Solar Inverter"])

    @classmethod
    def of(cls, short_name: str) -> DeviceTypeOut:
        return cls(short_name=short_name, long_name=DEVICE_TYPE_NAMES[short_name])


class CloudServiceOut(OutputModel):
    id: uuid.UUID
    name: str
    access: str = Field(
        description="`cloud_api`: reached through the vendor's cloud; `local_protocol`: only on the home "
        "network, through a gateway; `simulated`: the solarfleet simulator"
    )
    signup_link: str | None
    instructions: str
    needs_gateway: bool


class CatalogueDeviceModelOut(BaseModel):
    id: uuid.UUID
    manufacturer: str
    model: str
    year: int | None = Field(description="Year the model (series) came to market")
    device_type: DeviceTypeOut
    cloud_service: CloudServiceOut
