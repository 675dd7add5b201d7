"""Every table of every domain, gathered for migrations and tests."""

from solarfleet.buildings.models import Building
from solarfleet.catalogue.models import CloudService, DeviceModel
from solarfleet.database import Base
from solarfleet.forecasts.models import ForecastError
from solarfleet.inverters.models import Inverter, InverterAction
from solarfleet.monitoring.models import DeviceConnection, PollState, ReadingRollup, StoredReading
from solarfleet.onboarding.models import OnboardingSession
from solarfleet.optimization.models import PlanRun, PlanSlot
from solarfleet.organisations.models import ApiClient, Organisation
from solarfleet.prices.models import PartnerPrice, ZonePrice
from solarfleet.savings.models import SavingsDay
from solarfleet.steering.models import SteeringCommand
from solarfleet.tariffs.models import EnergyContract, EnergyContractPrice, OrganisationTariff
from solarfleet.trading.models import DayAheadTrade
from solarfleet.users.models import User

metadata = Base.metadata

__all__ = [
    "ApiClient",
    "Building",
    "CloudService",
    "DayAheadTrade",
    "DeviceConnection",
    "DeviceModel",
    "EnergyContract",
    "EnergyContractPrice",
    "ForecastError",
    "Inverter",
    "InverterAction",
    "OnboardingSession",
    "Organisation",
    "OrganisationTariff",
    "PartnerPrice",
    "PlanRun",
    "PlanSlot",
    "PollState",
    "ReadingRollup",
    "SavingsDay",
    "SteeringCommand",
    "StoredReading",
    "User",
    "ZonePrice",
    "metadata",
]
