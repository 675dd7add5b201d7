"""Seed the catalogue: the cloud services (or local protocols) and the device models solarfleet connects.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

The data lives here, not in package code, so that this migration keeps meaning what it meant
when it ran. Ids are derived from names, so every installation has the same catalogue ids.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _id(kind: str, name: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"https://solarfleet.invalid/catalogue/{kind}/{name}")


CLOUD_SERVICES = [
    {
        "name": "Fronius Solar API",
        "access": "local_protocol",
        "connector": "fronius_solar_api",
        "signup_link": None,
        "instructions": (
            "Fronius inverters answer the Solar API (JSON over HTTP, version 1) on the home network. "
            "In the inverter's web interface open Communication → Solar API and switch it on, then give "
            "solarfleet the inverter's local IP address. A gateway in the home relays the readings."
        ),
    },
    {
        "name": "SunSpec Modbus TCP",
        "access": "local_protocol",
        "connector": "sunspec_modbus_tcp",
        "signup_link": None,
        "instructions": (
            "The inverter speaks SunSpec over Modbus TCP (port 502) on the home network. Switch on "
            "Modbus TCP with the SunSpec register map in the inverter's installer menu (SMA: Device "
            "parameters → Modbus server; Kostal: Settings → Modbus/SunSpec (TCP)), allow write access "
            "for battery control, and give solarfleet the inverter's local IP address and unit id. A "
            "gateway in the home relays the traffic."
        ),
    },
    {
        "name": "SolarEdge Monitoring API",
        "access": "cloud_api",
        "connector": "solaredge_monitoring",
        "signup_link": "https://monitoring.solaredge.com",
        "instructions": (
            "Sign in to the SolarEdge monitoring platform, open Admin → Site Access → API Access, accept "
            "the terms, and generate an API key. Give solarfleet the API key and the site id shown on the "
            "same page."
        ),
    },
    {
        "name": "Huawei FusionSolar Northbound API",
        "access": "cloud_api",
        "connector": "huawei_fusionsolar",
        "signup_link": "https://intl.fusionsolar.huawei.com",
        "instructions": (
            "Ask your installer (the FusionSolar company administrator) to create a Northbound API account "
            "for your plant under System → Company Management → Northbound Management, then give solarfleet "
            "that user name and system code."
        ),
    },
    {
        "name": "GoodWe SEMS Portal",
        "access": "cloud_api",
        "connector": "goodwe_sems",
        "signup_link": "https://www.semsportal.com",
        "instructions": (
            "Register your plant in the SEMS Portal app with the inverter's serial number, then give "
            "solarfleet your SEMS Portal e-mail address and password."
        ),
    },
    {
        "name": "Enphase Enlighten API",
        "access": "cloud_api",
        "connector": "enphase_enlighten",
        "signup_link": "https://enlighten.enphaseenergy.com",
        "instructions": (
            "Sign in with your Enphase Enlighten account when solarfleet sends you to Enphase, and allow "
            "access to your system's production, consumption and battery data."
        ),
    },
    {
        "name": "Sungrow iSolarCloud",
        "access": "cloud_api",
        "connector": "sungrow_isolarcloud",
        "signup_link": "https://www.isolarcloud.com",
        "instructions": (
            "Make sure your plant appears in the iSolarCloud app, then sign in with your iSolarCloud account "
            "when solarfleet sends you to Sungrow and allow access to the plant."
        ),
    },
    {
        "name": "solarfleet simulator",
        "access": "simulated",
        "connector": "simulator",
        "signup_link": None,
        "instructions": (
            "A simulated home with PV, a battery and household load, for demonstrations and tests. Nothing to set up."
        ),
    },
]

DEVICE_MODELS = [
    ("Fronius", "Symo GEN24 Plus", 2020, "Fronius Solar API"),
    ("SMA", "Sunny Tripower Smart Energy", 2021, "SunSpec Modbus TCP"),
    ("SolarEdge", "Home Hub", 2021, "SolarEdge Monitoring API"),
    ("Huawei", "SUN2000 with LUNA2000", 2020, "Huawei FusionSolar Northbound API"),
    ("GoodWe", "ET", 2018, "GoodWe SEMS Portal"),
    ("Enphase", "IQ8 with IQ Battery", 2022, "Enphase Enlighten API"),
    ("Kostal", "Plenticore plus", 2018, "SunSpec Modbus TCP"),
    ("Sungrow", "SH-RT", 2020, "Sungrow iSolarCloud"),
    ("solarfleet", "Simulator", 2026, "solarfleet simulator"),
]

cloud_services = sa.table(
    "cloud_services",
    sa.column("id", sa.Uuid()),
    sa.column("name", sa.String()),
    sa.column("access", sa.String()),
    sa.column("connector", sa.String()),
    sa.column("signup_link", sa.String()),
    sa.column("instructions", sa.Text()),
)
device_models = sa.table(
    "device_models",
    sa.column("id", sa.Uuid()),
    sa.column("manufacturer", sa.String()),
    sa.column("model", sa.String()),
    sa.column("year", sa.Integer()),
    sa.column("device_type", sa.String()),
    sa.column("cloud_service_id", sa.Uuid()),
)


def upgrade() -> None:
    op.bulk_insert(cloud_services, [{"id": _id("cloud-service", s["name"]), **s} for s in CLOUD_SERVICES])
    op.bulk_insert(
        device_models,
        [
            {
                "id": _id("device-model", f"{manufacturer} {model}"),
                "manufacturer": manufacturer,
                "model": model,
                "year": year,
                "device_type": "inverter",
                "cloud_service_id": _id("cloud-service", service),
            }
            for manufacturer, model, year, service in DEVICE_MODELS
        ],
    )


def downgrade() -> None:
    op.execute(device_models.delete())
    op.execute(cloud_services.delete())
