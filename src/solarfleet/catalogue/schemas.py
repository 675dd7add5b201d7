"""Catalogue responses, and the device-model object embedded in every inverter."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from solarfleet.api.fields import OutputModel

DEVICE_TYPE_NAMES = {"inverter": "Solar Inverter"}


class DeviceTypeOut(BaseModel):
    short_name: str = Field(description="Short name of the device type", examples=["inverter"])
    long_name: str = Field(description="Name of the device type for people", examples=["Solar Inverter"])

    @classmethod
    def of(cls, short_name: str) -> DeviceTypeOut:
        return cls(short_name=short_name, long_name=DEVICE_TYPE_NAMES[short_name])


class CloudServiceOut(OutputModel):
    id: uuid.UUID = Field(description="The cloud service's id")
    name: str = Field(description="Name of the cloud service or local protocol")
    access: str = Field(
        description="`cloud_api`: reached through the vendor's cloud; `local_protocol`: only on the home "
        "network, through a gateway; `simulated`: the solarfleet simulator"
    )
    signup_link: str | None = Field(description="Where the customer signs up for the service, if anywhere")
    instructions: str = Field(description="How the customer connects a device through the service")
    needs_gateway: bool = Field(description="True when the device is reachable only on the home network")


class CatalogueDeviceModelOut(BaseModel):
    id: uuid.UUID = Field(description="The device model's id (an inverter's `device_model_id`)")
    manufacturer: str = Field(description="Manufacturer of the device")
    model: str = Field(description="Model (series) name")
    year: int | None = Field(description="Year the model (series) came to market")
    device_type: DeviceTypeOut = Field(description="What kind of device it is")
    cloud_service: CloudServiceOut = Field(description="The cloud service or local protocol it connects through")
