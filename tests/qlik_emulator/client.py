"""A plain test client of the emulators: one ``http.client`` request on a new connection, and its reply.

The emulators' own tests use it, so that what they check does not depend on the HTTP layer under test.
"""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

from .server import MountedEmulator


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        assert self.headers["Content-Type"].startswith("application/json")
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()

    @property
    def error(self) -> dict[str, Any]:
        """The one error of Qlik's error envelope."""
        data = self.json()
        assert set(data) == {"errors", "traceId"} and len(data["traceId"]) == 32
        (error,) = data["errors"]
        assert error["status"] == str(self.status)
        return dict(error)

    @property
    def cookies(self) -> dict[str, str]:
        jar: SimpleCookie = SimpleCookie()
        for header in self.headers.get_all("Set-Cookie", []):
            jar.load(header)
        return {name: morsel.value for name, morsel in jar.items()}



def send(emu: MountedEmulator, method: str, path: str, *, headers: Mapping[str, str] | None = None,
         body: Any = None, timeout: float = 5.0) -> Reply:
    """One request on a new connection; ``body`` is sent as JSON unless it is bytes."""
    host, port = "127.0.0.1", emu.server.port
    if emu.server.tls:
        context = ssl.create_default_context(cafile=str(emu.ca_cert_path))
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(host, port, context=context,
                                                                              timeout=timeout)
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    try:
        connection.request(method, path, body=data, headers=dict(headers or {}))
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        connection.close()

