#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A minimal socket-activated backend for a sallyport tenant (docs/TENANTS.md).

Serves the files of one directory over HTTP/1.1, on the listening socket
systemd passes in (LISTEN_FDS=1, fd 3) — a `.socket` unit whose
ListenStream= is hosts/<name>/tls-socket (or http-socket). With --cert and
--key it speaks TLS on that socket: sallyport relays the client's TLS
untouched, so the certificate lives here, with the tenant.

  tenant-backend.py --root DIR [--cert PEM --key PEM] [--proxy-v1]
                    [--idle-exit SECONDS] [--name TEXT]

--proxy-v1   expect a PROXY protocol v1 line before every request (create
             send-proxy-v1 in the host directory) and log the client address
             it carries. Never turn this on without the marker, nor the
             marker on without it: the first would refuse every request, the
             second would let clients forge their address.
--idle-exit  exit after this many seconds without a connection; systemd
             keeps the listening socket and starts the backend again on the
             next connection.
Python 3 standard library only. One request at a time: an example, not a
production server.
"""

import argparse
import functools
import http.server
import os
import socket
import ssl
import sys

SD_LISTEN_FDS_START = 3


def inherited_socket():
    if os.environ.get("LISTEN_PID") not in (None, str(os.getpid())):
        sys.exit("LISTEN_PID is not this process")
    if os.environ.get("LISTEN_FDS") != "1":
        sys.exit("expected one socket from systemd (LISTEN_FDS=1): start me "
                 "through a .socket unit or systemd-socket-activate")
    return socket.socket(fileno=SD_LISTEN_FDS_START)


class Handler(http.server.SimpleHTTPRequestHandler):
    name = ""

    def setup(self):
        super().setup()
        self.client = self.client_address[1]  # from Server.get_request

    def handle(self):
        if self.client is None:
            self.log_message("no PROXY v1 header: closing")
            return
        super().handle()

    def end_headers(self):
        if self.name:
            self.send_header("X-Backend", self.name)
        super().end_headers()

    def log_message(self, fmt, *args):
        sys.stderr.write("%s client=%s %s\n" % (self.name or "backend",
                                                self.client, fmt % args))
        sys.stderr.flush()


def read_proxy_v1(conn):
    """The client address from a PROXY v1 line, read byte by byte so that
    not one byte of what follows (the TLS ClientHello) is consumed; None if
    the line is missing or malformed."""
    line = b""
    while not line.endswith(b"\r\n"):
        b = conn.recv(1)
        if not b or len(line) >= 107:  # v1 lines are at most 107 bytes
            return None
        line += b
    parts = line.decode("ascii", "replace").split()
    if len(parts) < 2 or parts[0] != "PROXY":
        return None
    if parts[1] in ("TCP4", "TCP6") and len(parts) == 6:
        return "%s:%s" % (parts[2], parts[4])
    return "unknown"


class Server(http.server.HTTPServer):
    """Accepts on the inherited socket; PROXY header first, then TLS."""
    tls = None
    proxy_v1 = False

    def get_request(self):
        conn, addr = self.socket.accept()
        conn.settimeout(30)
        client = "-"  # a Unix socket peer has no address: it is sallyport
        if self.proxy_v1:
            client = read_proxy_v1(conn)
        if self.tls is not None and client is not None:
            conn = self.tls.wrap_socket(conn, server_side=True)
        return conn, (addr, client)

    def shutdown_request(self, request):
        # A TLS close_notify both ways, so the client's own close_notify is
        # read rather than answered with a reset.
        if isinstance(request, ssl.SSLSocket):
            try:
                request = request.unwrap()
            except (OSError, ValueError):
                pass
        super().shutdown_request(request)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--proxy-v1", action="store_true")
    ap.add_argument("--idle-exit", type=float, default=0)
    ap.add_argument("--name", default="")
    args = ap.parse_args()

    sock = inherited_socket()
    Handler.name = args.name
    handler = functools.partial(Handler, directory=args.root)
    server = Server(sock.getsockname() or "unix", handler, bind_and_activate=False)
    server.socket = sock
    server.proxy_v1 = args.proxy_v1
    if args.cert:
        server.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.tls.load_cert_chain(args.cert, args.key)
    server.timeout = args.idle_exit or None  # None: wait for ever
    idle = []
    server.handle_timeout = lambda: idle.append(True)
    while not idle:
        server.handle_request()  # one connection, or the idle timeout
    sys.stderr.write("idle for %gs: exiting (systemd starts me again on the "
                     "next connection)\n" % args.idle_exit)
    return 0

if __name__ == "__main__":
    sys.exit(main())
