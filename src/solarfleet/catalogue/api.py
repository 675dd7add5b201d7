"""Routes of the catalogue (a solarfleet addition to the contract)."""

from __future__ import annotations

from fastapi import APIRouter

from solarfleet.api.dependencies import CurrentPrincipal, DbSession
from solarfleet.api.errors import COMMON_ERROR_RESPONSES
from solarfleet.catalogue import service
from solarfleet.catalogue.schemas import CatalogueDeviceModelOut

router = APIRouter(prefix="/catalogue", tags=["Catalogue"], responses={401: COMMON_ERROR_RESPONSES[401]})


@router.get("/device-models", summary="List the device models solarfleet can connect")
def list_device_models(_principal: CurrentPrincipal, session: DbSession) -> list[CatalogueDeviceModelOut]:
    return service.list_device_models(session)
