"""Starting onboarding and re-authentication sessions as a partner does."""

from __future__ import annotations

from conftest import BASE, Partner

SUCCESS_URL = "https://partner.example/devices/connected?tab=energy"
CANCEL_URL = "https://partner.example/devices"


def start_onboarding(client, partner: Partner, user_id: str, **fields) -> dict:
    body = {
        "user_id": user_id,
        "language": "en",
        "price_zone_default": "AT",
        "success_url": SUCCESS_URL,
        "cancel_url": CANCEL_URL,
        **fields,
    }
    response = client.post(f"{BASE}/device-onboarding", json=body, headers=partner.headers)
    assert response.status_code == 201, response.text
    return response.json()


def read_session(client, partner: Partner, session_id: str) -> dict:
    response = client.get(f"{BASE}/device-onboarding/{session_id}", headers=partner.headers)
    assert response.status_code == 200, response.text
    return response.json()


def inverter(client, partner: Partner, user_id: str, inverter_id: str) -> dict:
    response = client.get(f"{partner.base}/users/{user_id}/inverters/{inverter_id}", headers=partner.headers)
    assert response.status_code == 200, response.text
    return response.json()
