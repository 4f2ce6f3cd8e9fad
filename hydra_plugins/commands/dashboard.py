"""The dashboard (``hydra dashboard``): one web page over the decision journal and Freqtrade's REST API.

Tabs: Overview (the pipeline table, kill switches in force, open positions), Cycle log (every
pair's decision per candle, newest first), Trades (Freqtrade's open and closed trades) and Layers
(each layer's verdict and reason per pair). The page polls ``/api/state`` every 10 seconds; the
journal is read-only here, so the bot writing it is never disturbed. Without ``--api-url`` (or with
the bot's API down) the trade views say so and the rest still works.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Query
from fastapi.responses import HTMLResponse

from hydra_plugins.core.decisions import TABLE_HEADER, Decision

if TYPE_CHECKING:
    from hydra_plugins.commands.status import BotFiles


def _bot_state(api: tuple[str, str, str] | None) -> dict[str, Any]:
    if api is None:
        return {"reachable": False, "error": "no --api-url given: trades are not shown"}
    from freqtrade_client import FtRestClient

    url, user, password = api
    client = FtRestClient(url, user, password, timeout=5)
    try:
        status, trades, profit = client.status(), client.trades(limit=50, order_by_id=False), client.profit()
    except Exception as exc:  # the client raises on some errors and returns None on others
        return {"reachable": False, "error": f"Freqtrade API at {url}: {exc}"}
    if status is None or trades is None or not isinstance(status, list):
        return {"reachable": False, "error": f"Freqtrade API at {url} did not answer (is the bot running?)"}
    return {"reachable": True, "status": status, "trades": trades.get("trades", []), "profit": profit or {}}


def state(files: BotFiles, api: tuple[str, str, str] | None) -> dict[str, Any]:
    """Everything the page shows, as JSON."""
    from hydra_plugins.commands.status import STALE_AFTER, missing_row

    now = datetime.now(UTC)
    try:
        rows = files.latest()
        error = ""
    except Exception as exc:
        rows, error = [], str(exc)
    pairs = []
    for row in rows:
        if isinstance(row, Decision):
            pairs.append({"pair": row.pair, "cells": list(row.cells()), "layers": row.layers(), **row.to_json()})
        else:
            pairs.append({"pair": row, "cells": list(missing_row(row)), "layers": {}, "final": "NO DATA"})
    written = [d.written_at for d in rows if isinstance(d, Decision)]
    newest = max(written, default=None)
    try:
        kill = files.kill_switches(now)
    except Exception as exc:
        kill = [f"kill switch state unreadable: {exc}"]
    return {
        "generated_at": now.isoformat(),
        "journal": str(files.decisions),
        "journal_error": error,
        "newest_written": newest.isoformat() if newest else None,
        "stale": newest is not None and now - newest > STALE_AFTER,
        "header": list(TABLE_HEADER),
        "pairs": pairs,
        "kill_switches": kill,
        "bot": _bot_state(api),
    }


def create_app(files: BotFiles, api: tuple[str, str, str] | None) -> FastAPI:
    app = FastAPI(title="HYDRA dashboard", docs_url=None, redoc_url=None)

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE.replace("{{journal}}", html.escape(str(files.decisions)))

    @app.get("/api/state")
    def api_state() -> dict[str, Any]:
        return state(files, api)

    @app.get("/api/history")
    def api_history(limit: int = Query(200, ge=1, le=5000), pair: str | None = None) -> list[dict[str, Any]]:
        try:
            decisions = files.journal().history(limit, pair)
        except Exception:
            return []
        return [{**d.to_json(), "layers": d.layers()} for d in decisions]

    return app


PAGE = (Path(__file__).with_name("dashboard.html")).read_text()
