"""The organisation's tariff (`GET|PUT /org/{org}/tariff`) and what each device pays and earns per
quarter hour (`TariffBook`): its rules as properties, and its loading from the database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from conftest import assert_error, assert_invalid, create_user
from solarfleet.prices import store
from solarfleet.prices.curve import PriceCurve, PriceSource
from solarfleet.prices.zones import HOUR, QUARTER_HOUR, PriceZone
from solarfleet.tariffs.book import (
    SPOT_ONLY,
    Contract,
    ContractType,
    OrgTariff,
    TariffBook,
    TariffDevice,
    applicable_contract,
    contract_prices,
)
from solarfleet.tariffs.service import load_tariff_book

TARIFF_FIELDS = ["import_components_eur_mwh", "feed_in_tariff_eur_mwh", "updated_at"]
START = datetime(2026, 6, 1, 22, tzinfo=UTC)
COUNT = 24
ORG, USER = uuid.uuid4(), uuid.uuid4()
HOME, SHED = uuid.uuid4(), uuid.uuid4()


def tariff_url(partner) -> str:
    return f"{partner.base}/tariff"


def put(client, partner, body):
    return client.put(tariff_url(partner), json=body, headers=partner.headers)


# --- the organisation's tariff --------------------------------------------------------------------


def test_an_unset_tariff_is_spot_only(client, partner):
    response = client.get(tariff_url(partner), headers=partner.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"import_components_eur_mwh": 0.0, "feed_in_tariff_eur_mwh": None, "updated_at": None}


def test_put_is_partial_and_get_reads_it_back(client, partner):
    first = put(client, partner, {"import_components_eur_mwh": 145.5})
    assert first.status_code == 200, first.text
    assert list(first.json()) == TARIFF_FIELDS
    assert first.json()["import_components_eur_mwh"] == 145.5
    assert first.json()["feed_in_tariff_eur_mwh"] is None
    assert first.json()["updated_at"].endswith("Z")
    second = put(client, partner, {"feed_in_tariff_eur_mwh": 75})
    assert second.json()["import_components_eur_mwh"] == 145.5
    assert second.json()["feed_in_tariff_eur_mwh"] == 75.0
    assert second.json()["updated_at"] >= first.json()["updated_at"]
    cleared = put(client, partner, {"feed_in_tariff_eur_mwh": None})
    assert cleared.json()["feed_in_tariff_eur_mwh"] is None
    assert cleared.json()["import_components_eur_mwh"] == 145.5
    unchanged = put(client, partner, {})
    assert unchanged.status_code == 200
    assert client.get(tariff_url(partner), headers=partner.headers).json() == unchanged.json()


def test_a_first_put_of_only_the_feed_in_tariff_keeps_the_default_components(client, partner):
    body = put(client, partner, {"feed_in_tariff_eur_mwh": -5.0}).json()
    assert (body["import_components_eur_mwh"], body["feed_in_tariff_eur_mwh"]) == (0.0, -5.0)


@pytest.mark.parametrize(
    "body",
    [
        {"import_components_eur_mwh": -0.01},
        {"import_components_eur_mwh": None},
        {"import_components_eur_mwh": 10_000.5},
        {"import_components_eur_mwh": "100"},
        {"feed_in_tariff_eur_mwh": 10_001},
        {"feed_in_tariff_eur_mwh": -10_001},
        {"feed_in_tariff_eur_mwh": True},
        {"grid_fees": 10},
    ],
)
def test_invalid_tariffs_are_422_at_the_field(client, partner, body):
    assert_invalid(put(client, partner, body), next(iter(body)))
    assert client.get(tariff_url(partner), headers=partner.headers).json()["updated_at"] is None


def test_each_organisation_has_its_own_tariff(client, partner, other_partner):
    put(client, partner, {"import_components_eur_mwh": 120})
    assert client.get(tariff_url(other_partner), headers=other_partner.headers).json()["import_components_eur_mwh"] == 0
    assert_error(
        client.put(tariff_url(partner), json={"import_components_eur_mwh": 1}, headers=other_partner.headers), 403
    )
    assert_error(client.get(tariff_url(partner), headers=other_partner.headers), 403)
    assert_error(client.get(tariff_url(partner)), 401)
    assert client.get(tariff_url(partner), headers=partner.headers).json()["import_components_eur_mwh"] == 120


def test_the_tariff_is_documented_as_a_solarfleet_addition_with_spot_only_defaults(client):
    document = client.get("/api/partners/v2.0/openapi.json").json()
    operation = document["paths"]["/api/partners/v2.0/org/{org_id}/tariff"]["get"]
    assert "solarfleet addition" in operation["description"]
    assert "spot-only defaults" in operation["description"]
    for name in ("OrganisationTariffOut", "OrganisationTariffUpdate"):
        properties = document["components"]["schemas"][name]["properties"]
        assert all("description" in spec for spec in properties.values()), name


# --- the rules, as properties of the pure book ----------------------------------------------------

PRICE = st.floats(-500, 4000, allow_nan=False)
SPOT = st.lists(st.one_of(PRICE, PRICE, PRICE, st.just(np.nan)), min_size=COUNT, max_size=COUNT).map(np.array)
COMPONENTS = st.floats(0, 500, allow_nan=False)
FEED_IN = st.none() | st.floats(-100, 500, allow_nan=False)
# Timestamps within a day around the window, some on and some off the quarter-hour grid.
TIMESTAMPS = st.integers(-8 * 3600, 2 * 86400).map(lambda s: START.timestamp() + s)


@st.composite
def contracts(draw, building_id=st.sampled_from([None, HOME, SHED]), contract_type=st.sampled_from(list(ContractType))):
    kind = draw(contract_type)
    times = sorted(draw(st.sets(TIMESTAMPS, min_size=0 if kind == ContractType.spot_hourly else 1, max_size=4)))
    return Contract(
        id=draw(st.uuids()),
        building_id=draw(building_id),
        contract_type=kind,
        includes_external_components=draw(st.booleans()),
        feed_in_tariff_eur_mwh=draw(FEED_IN),
        created_at=START - timedelta(days=draw(st.integers(0, 1000))),
        valid_from_s=np.array(times, dtype=float),
        prices_eur_mwh=np.array([draw(st.floats(-200, 800, allow_nan=False)) for _ in times]),
    )


def book(spot, contracts=(), organisation=SPOT_ONLY, partner=None, source=PriceSource.ENTSOE) -> TariffBook:
    partners = (
        {}
        if partner is None
        else {(ORG, PriceZone.AT): PriceCurve(PriceZone.AT, START, QUARTER_HOUR, partner, PriceSource.PARTNER)}
    )
    return TariffBook(
        spot={PriceZone.AT: PriceCurve(PriceZone.AT, START, QUARTER_HOUR, spot, source)},
        partner=partners,
        organisations={ORG: organisation},
        contracts={USER: list(contracts)},
    )


def device(building_id=HOME, trading=False) -> TariffDevice:
    return TariffDevice(ORG, USER, building_id, PriceZone.AT, trading)


STEP_STARTS = START.timestamp() + 900.0 * np.arange(COUNT)
RULES = settings(max_examples=200, deadline=None)


@RULES
@given(
    spot=SPOT, contract=st.none() | contracts(contract_type=st.just(ContractType.spot_hourly)), components=COMPONENTS
)
def test_without_an_all_inclusive_contract_import_is_spot_plus_components_plus_the_surcharge(
    spot, contract, components
):
    org = OrgTariff(components, None)
    prices = book(spot, [contract] if contract else [], org).prices(
        device(contract.building_id if contract else None), START, COUNT
    )
    surcharge = contract_prices(contract, STEP_STARTS) if contract else np.zeros(COUNT)
    expected = spot + surcharge + (0 if contract and contract.includes_external_components else components)
    np.testing.assert_allclose(prices.import_price, expected)
    if not (contract and contract.includes_external_components) and (surcharge >= 0).all():
        known = ~np.isnan(spot)
        assert (prices.import_price[known] >= spot[known] + components).all()


@RULES
@given(
    spot=SPOT,
    other_spot=SPOT,
    contract=contracts(contract_type=st.sampled_from([ContractType.monthly, ContractType.yearly])),
    components=COMPONENTS,
)
def test_a_fixed_price_contract_ignores_spot_for_import(spot, other_spot, contract, components):
    org = OrgTariff(components, None)
    subject = device(contract.building_id)
    prices = book(spot, [contract], org).prices(subject, START, COUNT)
    again = book(other_spot, [contract], org).prices(subject, START, COUNT)
    np.testing.assert_array_equal(prices.import_price, again.import_price)
    expected = contract_prices(contract, STEP_STARTS) + (0 if contract.includes_external_components else components)
    np.testing.assert_allclose(prices.import_price, expected)
    assert not np.isnan(prices.import_price).any()


@RULES
@given(contract=contracts(), step_starts=st.lists(TIMESTAMPS, min_size=1, max_size=50).map(sorted))
def test_the_contract_timeline_is_piecewise_constant_with_each_entry_in_force_until_the_next(contract, step_starts):
    starts = np.array(step_starts, dtype=float)
    prices = contract_prices(contract, starts)
    if len(contract.prices_eur_mwh) == 0:
        assert (prices == 0).all()
        return
    for t, price in zip(starts, prices, strict=True):
        in_force = [p for v, p in zip(contract.valid_from_s, contract.prices_eur_mwh, strict=True) if v <= t]
        assert price == (in_force[-1] if in_force else contract.prices_eur_mwh[0])
    # It changes only where an entry's timestamp lies between two consecutive steps.
    for i in np.flatnonzero(np.diff(prices) != 0):
        assert ((contract.valid_from_s > starts[i]) & (contract.valid_from_s <= starts[i + 1])).any()


@RULES
@given(candidates=st.lists(contracts(), max_size=6), building_id=st.sampled_from([None, HOME, SHED]))
def test_a_buildings_own_contract_beats_a_user_wide_one_and_the_newest_wins(candidates, building_id):
    chosen = applicable_contract(candidates, building_id)
    own = [c for c in candidates if building_id is not None and c.building_id == building_id]
    user_wide = [c for c in candidates if c.building_id is None]
    pool = own or user_wide
    if not pool:
        assert chosen is None
        return
    assert chosen in pool
    assert chosen.created_at == max(c.created_at for c in pool)
    assert chosen.building_id in (building_id, None)


def test_a_building_contract_wins_even_when_older_and_other_buildings_never_apply():
    def contract(building_id, days_ago, price):
        return Contract(
            uuid.uuid4(),
            building_id,
            ContractType.monthly,
            True,
            None,
            START - timedelta(days=days_ago),
            np.array([0.0]),
            np.array([price]),
        )

    spot = np.full(COUNT, 50.0)
    contracts_ = [
        contract(HOME, 300, 100.0),
        contract(None, 1, 200.0),
        contract(None, 5, 300.0),
        contract(SHED, 0, 400.0),
    ]
    the_book = book(spot, contracts_)
    assert set(the_book.prices(device(HOME), START, COUNT).import_price) == {100.0}
    assert set(the_book.prices(device(None), START, COUNT).import_price) == {200.0}
    assert set(the_book.prices(device(uuid.uuid4()), START, COUNT).import_price) == {200.0}


@RULES
@given(spot=SPOT, contract=st.none() | contracts(), org_feed_in=FEED_IN)
def test_export_earns_the_contracts_feed_in_else_the_organisations_else_spot(spot, contract, org_feed_in):
    org = OrgTariff(0.0, org_feed_in)
    prices = book(spot, [contract] if contract else [], org).prices(
        device(contract.building_id if contract else None), START, COUNT
    )
    if contract is not None and contract.feed_in_tariff_eur_mwh is not None:
        assert (prices.export_price == contract.feed_in_tariff_eur_mwh).all()
    elif org_feed_in is not None:
        assert (prices.export_price == org_feed_in).all()
    else:
        np.testing.assert_array_equal(prices.export_price, spot)


@RULES
@given(
    spot=SPOT, partner=SPOT, trading=st.booleans(), source=st.sampled_from([PriceSource.ENTSOE, PriceSource.SYNTHETIC])
)
def test_a_trading_device_is_steered_by_its_partners_upload_where_there_is_one(spot, partner, trading, source):
    prices = book(spot, partner=partner, source=source).prices(device(trading=trading), START, COUNT)
    uploaded = ~np.isnan(partner)
    if trading:
        np.testing.assert_array_equal(prices.spot, np.where(uploaded, partner, spot))
    else:
        np.testing.assert_array_equal(prices.spot, spot)
    if not trading or not uploaded.any():
        assert prices.source == source
    elif uploaded.all() or source == PriceSource.ENTSOE:
        assert prices.source == PriceSource.PARTNER
    else:
        assert prices.source == PriceSource.SYNTHETIC


@RULES
@given(spot=SPOT, contract=st.none() | contracts(), org_feed_in=FEED_IN, components=COMPONENTS)
def test_missing_marks_exactly_the_steps_that_need_an_unknown_spot_price(spot, contract, org_feed_in, components):
    org = OrgTariff(components, org_feed_in)
    prices = book(spot, [contract] if contract else [], org).prices(
        device(contract.building_id if contract else None), START, COUNT
    )
    fixed_import = contract is not None and contract.contract_type != ContractType.spot_hourly
    fixed_export = (contract is not None and contract.feed_in_tariff_eur_mwh is not None) or org_feed_in is not None
    needs_spot = not (fixed_import and fixed_export)
    np.testing.assert_array_equal(prices.missing, np.isnan(spot) & needs_spot)
    assert np.isnan(prices.import_price[~prices.missing]).sum() == 0
    assert np.isnan(prices.export_price[~prices.missing]).sum() == 0
    assert prices.source == (PriceSource.ENTSOE if needs_spot else PriceSource.CONTRACT)


def test_steps_outside_the_loaded_window_have_no_spot_price():
    the_book = book(np.full(COUNT, 80.0))
    prices = the_book.prices(device(), START - HOUR, 8)
    assert prices.missing.tolist() == [True] * 4 + [False] * 4
    assert prices.import_price[4:].tolist() == [80.0] * 4


def test_a_zone_the_book_was_not_loaded_for_is_an_error():
    with pytest.raises(KeyError, match="SE_3"):
        book(np.full(COUNT, 80.0)).prices(TariffDevice(ORG, USER, None, PriceZone.SE_3, False), START, COUNT)


# --- loading the book -----------------------------------------------------------------------------


class QueryCounter:
    """The SELECT statements sent to the database while it is open."""

    def __init__(self, engine) -> None:
        self.count = 0
        self.engine = engine

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)

    def _count(self, _connection, _cursor, statement: str, *_args) -> None:
        self.count += statement.lstrip().upper().startswith("SELECT")


def test_the_loaded_book_prices_each_device_by_its_contract_tariff_and_zone(client, partner, database):
    headers, base = partner.headers, partner.base
    org = uuid.UUID(partner.org_id)
    put(client, partner, {"import_components_eur_mwh": 100.0, "feed_in_tariff_eur_mwh": 60.0})
    fixed, spot_user, plain = (create_user(client, partner) for _ in range(3))
    home = client.post(f"{base}/users/{fixed['id']}/buildings", json={"name": "Home"}, headers=headers).json()["id"]
    contracts_url = f"{base}/users/{{}}/energy-contracts"
    responses = [
        client.post(
            contracts_url.format(fixed["id"]),
            json={
                "energy_contract_type": "yearly",
                "building_id": home,
                "energy_price_includes_external_components": True,
                "feed_in_tariff": 0.08,
                "energy_prices": [
                    {"price": 0.30, "timestamp": "2026-01-01T00:00:00Z"},
                    {"price": 0.25, "timestamp": "2026-06-01T23:00:00Z"},
                ],
            },
            headers=headers,
        ),
        client.post(
            contracts_url.format(spot_user["id"]),
            json={
                "energy_contract_type": "spot_hourly",
                "energy_prices": [{"price": 0.02, "timestamp": "2026-01-01T00:00:00Z"}],
            },
            headers=headers,
        ),
    ]
    assert [r.status_code for r in responses] == [201, 201], [r.text for r in responses]
    with database.session() as session:
        store.store_curves(
            session, [PriceCurve(PriceZone.AT, START, HOUR, [40.0, 50.0, 60.0, np.nan], PriceSource.ENTSOE)]
        )
        store.store_partner_prices(session, org, PriceZone.AT, START, [90.0] * 4)
    devices = {
        "fixed": TariffDevice(org, uuid.UUID(fixed["id"]), uuid.UUID(home), PriceZone.AT, False),
        "spot": TariffDevice(org, uuid.UUID(spot_user["id"]), None, PriceZone.AT, False),
        "plain": TariffDevice(org, uuid.UUID(plain["id"]), None, PriceZone.AT, True),
    }
    with database.session(write=False) as session:
        the_book = load_tariff_book(session, devices.values(), START, START + 4 * HOUR)
    hourly = np.repeat([40.0, 50.0, 60.0, np.nan], 4)

    fixed_prices = the_book.prices(devices["fixed"], START, 16)
    np.testing.assert_allclose(fixed_prices.import_price, [300.0] * 4 + [250.0] * 12)
    assert set(fixed_prices.export_price) == {80.0}
    assert fixed_prices.source == PriceSource.CONTRACT
    assert not fixed_prices.missing.any()

    spot_prices = the_book.prices(devices["spot"], START, 16)
    np.testing.assert_allclose(spot_prices.import_price, hourly + 20.0 + 100.0)
    assert set(spot_prices.export_price) == {60.0}
    assert spot_prices.missing.tolist() == [False] * 12 + [True] * 4
    assert spot_prices.source == PriceSource.ENTSOE

    plain_prices = the_book.prices(devices["plain"], START, 16)
    np.testing.assert_allclose(plain_prices.spot, [90.0] * 4 + hourly[4:].tolist())
    np.testing.assert_allclose(plain_prices.import_price, plain_prices.spot + 100.0)
    assert plain_prices.source == PriceSource.PARTNER


def test_loading_takes_the_same_queries_for_one_device_as_for_many(client, partner, database):
    org = uuid.UUID(partner.org_id)
    users = [create_user(client, partner) for _ in range(12)]
    for user in users:
        response = client.post(
            f"{partner.base}/users/{user['id']}/energy-contracts",
            json={"energy_contract_type": "spot_hourly"},
            headers=partner.headers,
        )
        assert response.status_code == 201, response.text
    devices = [
        TariffDevice(org, uuid.UUID(user["id"]), None, zone, trading)
        for user, zone, trading in zip(
            users, [PriceZone.AT, PriceZone.DE_LU, PriceZone.SE_3] * 4, [True, False] * 6, strict=True
        )
    ]
    counts = []
    for subset in (devices[:1], devices):
        with database.session(write=False) as session, QueryCounter(database.engine) as counter:
            load_tariff_book(session, subset, START, START + HOUR)
        counts.append(counter.count)
    # Zone prices, partner prices, organisation tariffs, contracts, contract prices.
    assert counts == [5, 5]
