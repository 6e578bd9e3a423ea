#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A tiny HTTP/1.1 backend on a Unix socket, for the demo: answers every
request with which backend it is and the request line it received, and logs
each request line to stdout."""
import os
import socket
import sys


def main():
    path, name = sys.argv[1], sys.argv[2]
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    old = os.umask(0)  # the proxy runs as another user: it must be able to connect
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    os.umask(old)
    srv.listen(64)
    while True:
        conn, _ = srv.accept()
        with conn:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                head += chunk
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            print(f"[{name}] received: {line}", flush=True)
            body = f"hello from the {name} backend; you sent: {line}\n".encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         b"Connection: close\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(body), body))


if __name__ == "__main__":
    main()
