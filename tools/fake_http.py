"""HTTP plumbing shared by the fake platforms in ``tools/`` (reference, Rossum, BILL).

Each fake keeps its routes, state and documented behaviour; what they have in common lives here:

* :class:`ThreadingServer`: a threading HTTP server on 127.0.0.1 (or an IPv6 address) whose handler
  threads never block shutdown, that binds without a reverse DNS lookup and stays quiet about clients
  that went away; ``owner`` is the fake the handlers serve;
* :class:`JsonHandler`: HTTP/1.1 keep-alive with TCP_NODELAY and ``send_json``;
* :func:`serve_in_thread`: serve from a daemon thread.

It depends on the standard library only, and never imports Odoo.
"""

import http.server
import json
import socket
import socketserver
import sys
import threading


class ThreadingServer(http.server.ThreadingHTTPServer):
    """Threading HTTP server whose handler threads never block shutdown."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address, handler, owner):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.owner = owner
        super().__init__(address, handler)

    def server_bind(self):
        """Bind without ``HTTPServer``'s reverse DNS lookup of the host (``getfqdn`` can be slow)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        """Ignore clients that went away; print anything else (a bug in the fake)."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class JsonHandler(http.server.BaseHTTPRequestHandler):
    """Request handler base: keep-alive HTTP/1.1, JSON answers."""

    protocol_version = "HTTP/1.1"
    timeout = 60  # idle keep-alive connections are closed after this many seconds
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle and the client's delayed ACK
    # add ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True

    def send_json(self, status, payload, headers=None, body=None, content_type="application/json"):
        """Write one answer: ``payload`` as JSON (or ``body``, bytes, as they are); a client that went
        away closes the connection instead of raising."""
        if body is None:
            body = json.dumps(payload).encode() if payload is not None else b""
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, str(value))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True


def serve_in_thread(server, name):
    """Serve ``server`` from a daemon thread (polling for shutdown every 0.1 s); returns the thread."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name=name, daemon=True
    )
    thread.start()
    return thread
