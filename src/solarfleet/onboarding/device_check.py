"""The real read that proves a customer's credentials (or local address) work, run in the background.

The Connect UI never talks to a device inside a request: giving consent starts a check here, on the
server's event loop, and the page follows the session's state until the check has written its outcome.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from solarfleet.connectors.base import (
    Capabilities,
    ConnectorError,
    CredentialsRejected,
    DeviceUnreachable,
    MalformedData,
    Unsupported,
    within,
)
from solarfleet.connectors.registry import ConnectorContext, InvalidConnectionSettings, open_connector
from solarfleet.logs import get_logger

log = get_logger(__name__)

CHECK_TIMEOUT_S = 20.0


class CheckFailure(StrEnum):
    CREDENTIALS_REJECTED = "credentials_rejected"
    UNREACHABLE = "unreachable"
    UNEXPECTED_ANSWER = "unexpected_answer"
    UNSUPPORTED = "unsupported"
    INVALID_SETTINGS = "invalid_settings"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    capabilities: Capabilities | None = None
    failure: CheckFailure | None = None
    # The connector's own words, for the operator and a "details" line: connector errors never carry secrets.
    detail: str | None = None


_FAILURES: tuple[tuple[type[ConnectorError], CheckFailure], ...] = (
    (CredentialsRejected, CheckFailure.CREDENTIALS_REJECTED),
    (DeviceUnreachable, CheckFailure.UNREACHABLE),
    (MalformedData, CheckFailure.UNEXPECTED_ANSWER),
    (Unsupported, CheckFailure.UNSUPPORTED),
    (InvalidConnectionSettings, CheckFailure.INVALID_SETTINGS),
)


async def read_device(
    connector_name: str, settings: dict[str, Any], context: ConnectorContext, timeout_s: float = CHECK_TIMEOUT_S
) -> CheckOutcome:
    """Read the device's state and capabilities once; what went wrong, in a kind the page can explain."""
    try:
        connector = open_connector(connector_name, settings, context)
    except ConnectorError as error:
        return _failed(error)
    try:
        await within(timeout_s, connector.read_state(), "reading the device")
        capabilities = await within(timeout_s, connector.capabilities(), "asking the device what it offers")
    except ConnectorError as error:
        return _failed(error)
    finally:
        await connector.close()
    return CheckOutcome(capabilities=capabilities)


def _failed(error: ConnectorError) -> CheckOutcome:
    kind = next((failure for cls, failure in _FAILURES if isinstance(error, cls)), CheckFailure.FAILED)
    return CheckOutcome(failure=kind, detail=str(error))


class DeviceChecks:
    """Runs each session's check as a task of the server's event loop and stores its outcome.

    `load_job` and `record` are the storage half (they run in a worker thread); keeping them as
    callables leaves this class free of the database and the flow's rules.
    """

    def __init__(self, load_job, record, context: ConnectorContext | None = None) -> None:
        self._load_job = load_job
        self._record = record
        self._context = context or ConnectorContext(io_timeout_s=CHECK_TIMEOUT_S)
        self._tasks: set[asyncio.Task] = set()

    async def start(self, session_id: uuid.UUID) -> None:
        """Start the session's check on the running loop and return at once (after the response's commit)."""
        task = asyncio.get_running_loop().create_task(self._run(session_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, session_id: uuid.UUID) -> None:
        try:
            job = await asyncio.to_thread(self._load_job, session_id)
            if job is None:
                return
            connector_name, settings = job
            outcome = await read_device(connector_name, settings, self._context)
            log.info(
                "onboarding_check",
                session_id=str(session_id),
                connector=connector_name,
                failure=outcome.failure,
                detail=outcome.detail,
            )
            await asyncio.to_thread(self._record, session_id, outcome)
        except Exception:
            # The session stays `checking` and the page reports it as interrupted once it is stale.
            log.exception("onboarding_check_failed", session_id=str(session_id))

    async def idle(self) -> None:
        """Wait for the checks under way (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._context.close()
