"""One GET for every REST source: transport errors, HTTP errors and non-JSON answers become IntelUnavailable.

The message names the path, never the query or headers (where an API key may travel).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from hydra_plugins.core.errors import IntelUnavailable


def is_retryable(status: int | None, error: Exception | None = None) -> bool:
    """Whether a failed call may be retried after a backoff.

    Timeouts, dropped connections, 429 (rate limit) and 5xx are; 418 (an IP ban, which only
    lengthens if retried) and other 4xx (a bad request) are not.
    """
    if error is not None:
        return isinstance(error, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError)
    if status is None:
        return False
    return status == 429 or 500 <= status < 600


def get_json(
    http: httpx.Client,
    base_url: str,
    path: str,
    *,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    timeout_s: float,
    on_response: Callable[[httpx.Response], None] | None = None,
) -> Any:
    """Return the decoded JSON of ``GET base_url + path``; raise IntelUnavailable saying why and if retryable.

    ``on_response`` sees every answer, error or not, before it is judged (e.g. to read a weight header).
    """
    try:
        response = http.get(f"{base_url}{path}", params=params, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise IntelUnavailable(
            f"GET {path}: {type(exc).__name__}: {exc}", retryable=is_retryable(None, exc), unreachable=True
        ) from None
    if on_response is not None:
        on_response(response)
    if response.status_code != 200:
        retry_after = response.headers.get("retry-after")
        raise IntelUnavailable(
            f"GET {path}: HTTP {response.status_code} {response.text[:200]}",
            retryable=is_retryable(response.status_code),
            retry_after_s=float(retry_after) if retry_after and retry_after.isdigit() else None,
            status=response.status_code,
        )
    try:
        return response.json()
    except ValueError:
        raise IntelUnavailable(f"GET {path}: answer is not JSON: {response.text[:200]!r}", retryable=True) from None
