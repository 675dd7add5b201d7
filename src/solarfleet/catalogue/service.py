"""Reading the catalogue."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from solarfleet.catalogue.models import DeviceModel
from solarfleet.catalogue.schemas import CatalogueDeviceModelOut, CloudServiceOut, DeviceTypeOut


def list_device_models(session: Session) -> list[CatalogueDeviceModelOut]:
    models = session.scalars(select(DeviceModel).order_by(DeviceModel.manufacturer, DeviceModel.model))
    return [
        CatalogueDeviceModelOut(
            id=m.id,
            manufacturer=m.manufacturer,
            model=m.model,
            year=m.year,
            device_type=DeviceTypeOut.of(m.device_type),
            cloud_service=CloudServiceOut.model_validate(m.cloud_service),
        )
        for m in models
    ]
