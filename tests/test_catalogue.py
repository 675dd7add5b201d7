"""The device-model catalogue (`GET /catalogue/device-models`): real products and how they connect."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from urllib.parse import urlparse

import pytest

CATALOGUE = "/api/partners/v2.0/catalogue/device-models"
ACCESS_KINDS = {"cloud_api", "local_protocol", "simulated"}

# manufacturer, model, how solarfleet reaches it
PRODUCTS = [
    ("Fronius", "Symo GEN24 Plus", "local_protocol"),
    ("SMA", "Sunny Tripower Smart Energy", "local_protocol"),
    ("SolarEdge", "Home Hub", "cloud_api"),
    ("Huawei", "SUN2000 with LUNA2000", "cloud_api"),
    ("GoodWe", "ET", "cloud_api"),
    ("Enphase", "IQ8 with IQ Battery", "cloud_api"),
    ("Kostal", "Plenticore plus", "local_protocol"),
    ("Sungrow", "SH-RT", "cloud_api"),
    ("solarfleet", "Simulator", "simulated"),
]


def assert_error(response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "detail" in response.json()


@pytest.fixture
def catalogue(client, partner) -> list[dict]:
    response = client.get(CATALOGUE, headers=partner.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, list)
    return body


def test_every_entry_is_complete_and_consistent(catalogue):
    assert catalogue
    for entry in catalogue:
        assert set(entry) == {"id", "manufacturer", "model", "year", "device_type", "cloud_service"}, entry
        uuid.UUID(entry["id"])
        assert entry["manufacturer"].strip()
        assert entry["model"].strip()
        assert entry["year"] is None or 1990 <= entry["year"] <= datetime.now(UTC).year + 1
        assert entry["device_type"] == {"short_name": "inverter", "long_name": "Solar Inverter"}
        service = entry["cloud_service"]
        assert set(service) == {"id", "name", "access", "signup_link", "instructions", "needs_gateway"}
        uuid.UUID(service["id"])
        assert service["name"].strip()
        assert len(service["instructions"].strip()) > 20
        assert service["access"] in ACCESS_KINDS
        assert service["needs_gateway"] is (service["access"] == "local_protocol")
        if service["access"] == "cloud_api":
            link = urlparse(service["signup_link"])
            assert link.scheme == "https"
            assert link.netloc
        else:
            assert service["signup_link"] is None


def test_ids_are_unique_and_one_cloud_service_has_one_description(catalogue):
    assert len({entry["id"] for entry in catalogue}) == len(catalogue)
    assert len({(entry["manufacturer"], entry["model"]) for entry in catalogue}) == len(catalogue)
    services: dict[str, dict] = {}
    for entry in catalogue:
        service = entry["cloud_service"]
        assert services.setdefault(service["id"], service) == service


@pytest.mark.parametrize(("manufacturer", "model", "access"), PRODUCTS)
def test_the_named_real_products_are_listed(catalogue, manufacturer, model, access):
    matches = [e for e in catalogue if (e["manufacturer"], e["model"]) == (manufacturer, model)]
    assert len(matches) == 1, [(e["manufacturer"], e["model"]) for e in catalogue]
    [entry] = matches
    assert isinstance(entry["year"], int)
    assert entry["cloud_service"]["access"] == access
    assert entry["cloud_service"]["needs_gateway"] is (access == "local_protocol")


def test_sunspec_devices_share_one_local_protocol(catalogue):
    by_model = {(e["manufacturer"], e["model"]): e["cloud_service"] for e in catalogue}
    sma = by_model[("SMA", "Sunny Tripower Smart Energy")]
    kostal = by_model[("Kostal", "Plenticore plus")]
    assert sma == kostal
    assert "SunSpec" in sma["name"]
    assert by_model[("Fronius", "Symo GEN24 Plus")]["id"] != sma["id"]


def test_the_catalogue_is_the_same_for_every_organisation(client, partner, other_partner, catalogue):
    response = client.get(CATALOGUE, headers=other_partner.headers)
    assert response.status_code == 200
    assert response.json() == catalogue


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer garbage"}, {"Authorization": "Basic Zm9vOmJhcg=="}],
    ids=["none", "garbage", "basic"],
)
def test_the_catalogue_needs_a_valid_token(client, partner, headers):
    response = client.get(CATALOGUE, headers=headers)
    assert_error(response, 401)
    assert response.headers.get("www-authenticate", "").startswith("Bearer")
