"""Every table of every domain, gathered for migrations and tests."""

from solarfleet.buildings.models import Building
from solarfleet.catalogue.models import CloudService, DeviceModel
from solarfleet.database import Base
from solarfleet.inverters.models import Inverter, InverterAction
from solarfleet.monitoring.models import DeviceConnection, PollState, ReadingRollup, StoredReading
from solarfleet.organisations.models import ApiClient, Organisation
from solarfleet.users.models import User

metadata = Base.metadata

__all__ = [
    "ApiClient",
    "Building",
    "CloudService",
    "DeviceConnection",
    "DeviceModel",
    "Inverter",
    "InverterAction",
    "Organisation",
    "PollState",
    "ReadingRollup",
    "StoredReading",
    "User",
    "metadata",
]
