"""Webhook requests checked with the Standard Webhooks reference library, at any clock time."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from svix.webhooks import Webhook

from faceverdict.testing.webhooks import SentRequest


def verified(secret: str, request: SentRequest) -> dict[str, Any]:
    """The JSON body of ``request`` once the spec's library agrees that ``secret`` signed it.

    The library's ``verify`` also refuses timestamps five minutes away from the wall clock;
    tests on a manual clock check the signature with its ``sign`` instead, at the request's
    own ``webhook-timestamp``.
    """
    headers = request.headers
    timestamp = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
    expected = Webhook(secret).sign(headers["webhook-id"], timestamp, request.body.decode())
    assert expected in headers["webhook-signature"].split(" "), "not signed with this secret"
    body = json.loads(request.body)
    assert isinstance(body, dict)
    return body
