"""Every table of every domain, gathered for migrations and tests."""

from solarfleet.buildings.models import Building
from solarfleet.catalogue.models import CloudService, DeviceModel
from solarfleet.database import Base
from solarfleet.inverters.models import Inverter, InverterAction
from solarfleet.organisations.models import ApiClient, Organisation
from solarfleet.users.models import User

metadata = Base.metadata

__all__ = [
    "ApiClient",
    "Building",
    "CloudService",
    "DeviceModel",
    "Inverter",
    "InverterAction",
    "Organisation",
    "User",
    "metadata",
]
