"""The PostgreSQL server the benchmarks use, and the one way they skip it when none answers."""

from __future__ import annotations

import os

from rich.console import Console
from sqlalchemy import make_url

from solarfleet.database import unreachable_reason

POSTGRES_URL = os.environ.get("SOLARFLEET_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def postgres_answers(console: Console) -> bool:
    """True when the benchmark's PostgreSQL answers; else says why its run is skipped."""
    reason = unreachable_reason(POSTGRES_URL)
    if reason:
        shown = make_url(POSTGRES_URL).render_as_string(hide_password=True)
        console.print(
            f"[yellow]PostgreSQL run skipped[/yellow]: no PostgreSQL at {shown} ({reason})",
            highlight=False,
            soft_wrap=True,
        )
    return reason is None
