"""The life of a stand-in HTTP server: on a free loopback port for the span of an `async with` block."""

from __future__ import annotations

import asyncio
from typing import Self

from aiohttp import web


class LoopbackServer:
    """A subclass sets `route` (an aiohttp route of GET requests), answers them in `_answer`, and holds
    `_stopping`, an event set when the block ends (stalled answers wait on it) and `_runner`, None."""

    route: str
    port: int = 0
    _runner: web.AppRunner | None
    _stopping: asyncio.Event

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get(self.route, self._answer)
        # No access log: it would print query parameters (API keys, tokens), and tests check none of ours does.
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._stopping.set()
        assert self._runner is not None
        await self._runner.cleanup()

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError
