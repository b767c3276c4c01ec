"""uvicorn's HTTP protocol with a bound on the size of a request's head (request line and headers).

uvicorn's httptools protocol, which ``uvicorn[standard]`` runs, holds a request's URL and headers
in memory as they arrive and sets no bound of its own: a 100 MB header grew the server by 181 MB.
:func:`uvicorn_http` gives uvicorn a subclass that counts the bytes of each head as they arrive
and, past ``max_bytes``, answers ``431 Request Header Fields Too Large`` with a one-line JSON
body and closes the connection, so at most ``max_bytes`` plus one read is ever held. Without
httptools uvicorn runs h11, whose own bound (``h11_max_incomplete_event_size``; a 400) is set to
the same number.
"""

from __future__ import annotations

import json

OPTION = "--max-header-bytes"


def uvicorn_http(max_bytes: int) -> dict:
    """The ``uvicorn.Config`` arguments that choose the HTTP protocol, its heads bounded by ``max_bytes``."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # no httptools: uvicorn's h11 protocol, which has the bound built in
        return {"http": "h11", "h11_max_incomplete_event_size": max_bytes}
    return {"http": head_limited(HttpToolsProtocol, max_bytes)}


def head_limited(base: type, max_bytes: int) -> type:
    """``base`` (uvicorn's httptools protocol) refusing a request whose head passes ``max_bytes``."""

    class HeadLimited(base):
        def connection_made(self, transport):
            self._head_bytes, self._in_body, self._tail = 0, False, b""  # the current request's head so far
            super().connection_made(transport)

        def on_headers_complete(self):
            self._in_body = True
            super().on_headers_complete()

        def on_message_complete(self):
            self._head_bytes, self._in_body, self._tail = 0, False, b""  # the next request starts a new head
            super().on_message_complete()

        def data_received(self, data: bytes) -> None:
            if not self._in_body:  # counted before the parser holds any of it
                window = self._tail + data  # the blank line that ends the head may span two reads
                end = window.find(b"\r\n\r\n")
                self._head_bytes += len(data) if end < 0 else end + 4 - len(self._tail)
                self._tail = window[-3:]
                if self._head_bytes > max_bytes:
                    return self._refuse()
            super().data_received(data)

        def _refuse(self) -> None:
            message = f"the request's headers are larger than the limit of {max_bytes:,} bytes ({OPTION})"
            body = json.dumps({"error": message}).encode()
            self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                                 b"content-type: application/json\r\ncontent-length: %d\r\n"
                                 b"connection: close\r\n\r\n%s" % (len(body), body))
            self.transport.close()

    HeadLimited.__qualname__ = HeadLimited.__name__ = f"HeadLimited{base.__name__}"
    return HeadLimited
