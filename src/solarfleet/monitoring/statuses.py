"""The status rules of `inverter-fields.md` as pure functions of what polling knows.

`connection_status`: can we reach the device; `monitoring_status`: is the data fresh and complete;
`lifecycle_state`: where the device stands from registration to working (or failing for good).
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from solarfleet.connectors.base import Quantity

OK, WARNING, ERROR, UNKNOWN = "ok", "warning", "error", "unknown"
LIFECYCLE_AUTHENTICATED, LIFECYCLE_ACTIVE, LIFECYCLE_ERROR = "authenticated", "active", "error"
LIFECYCLE_DEAUTHORIZED = "deauthorized"
POLLED_LIFECYCLES = (LIFECYCLE_AUTHENTICATED, LIFECYCLE_ACTIVE, LIFECYCLE_ERROR)

# Failure kinds (`ConnectorError` subclasses by name) that no retry will cure.
PERMANENT_FAILURES = frozenset({"Unsupported", "MalformedData"})


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When a run of failures or an old reading stops being a warning and becomes an error.

    Derived once from the poll interval (every poll of a device asks for them)."""

    poll_interval: timedelta
    error_after: timedelta = field(init=False)
    stale_after: timedelta = field(init=False)

    def __post_init__(self) -> None:
        # five missed polls, and never less than ten minutes, so a router reboot stays a warning
        object.__setattr__(self, "error_after", max(5 * self.poll_interval, timedelta(minutes=10)))
        object.__setattr__(self, "stale_after", 2 * self.poll_interval)


def connection_status(
    consecutive_failures: int, failing_since: datetime | None, credentials_rejected: bool, now: datetime, t: Thresholds
) -> str:
    if credentials_rejected:
        return ERROR
    if consecutive_failures == 0:
        return OK
    if failing_since is not None and now - failing_since >= t.error_after:
        return ERROR
    return WARNING


def monitoring_status(
    latest_reading_at: datetime | None,
    present: Set[Quantity],
    expected: Set[Quantity],
    undecodable: bool,
    now: datetime,
    t: Thresholds,
) -> str:
    """`present` are the quantities the latest reading carries (reported or computed); `expected`
    those the device model can report. An undecodable last answer is an error whatever came before."""
    if undecodable:
        return ERROR
    if latest_reading_at is None:
        return UNKNOWN
    age = now - latest_reading_at
    if age > t.error_after:
        return ERROR
    if age > t.stale_after or not expected <= present:
        return WARNING
    return OK


def lifecycle_after_poll(
    current: str, succeeded: bool, failure_kind: str | None, failing_for: timedelta, t: Thresholds
) -> str:
    """`active` from the first reading on; `error` once a permanent failure has lasted past the
    error threshold (a device that answers garbage once is not broken for good); back to `active`
    when readings come again."""
    if succeeded:
        return LIFECYCLE_ACTIVE
    if failure_kind == "CredentialsRejected":
        return LIFECYCLE_DEAUTHORIZED
    if failure_kind in PERMANENT_FAILURES and failing_for >= t.error_after:
        return LIFECYCLE_ERROR
    return current
