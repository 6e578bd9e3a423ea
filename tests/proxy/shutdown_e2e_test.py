# SPDX-License-Identifier: Apache-2.0
"""Graceful shutdown end to end: on SIGTERM the listening socket closes at
once, in-flight transfers complete byte-identical, and sallyport exits 0
with a `stopped` line; with --drain-timeout a stuck transfer is killed and
the exit is still 0."""

import hashlib
import os
import signal
import socket
import threading
import unittest

import harness as h

NAME = "app.example.test"
SIZE = 50 * 1000 * 1000


def download_handler(c):
  buf = b""
  while b"\r\n\r\n" not in buf:
    b = c.sock.recv(1 << 16)
    if not b:
      return
    buf += b
  if buf.startswith(b"GET /x"):  # a small answer
    c.sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    c.sock.shutdown(socket.SHUT_WR)
    h.Backend.record(c)
    return
  if buf.startswith(b"GET /stuck"):
    h.Backend.record(c)  # says nothing, waits for EOF
    return
  c.sha = h.send_stream(c.sock, SIZE)
  c.sock.shutdown(socket.SHUT_WR)
  h.Backend.record(c)


class ShutdownTest(unittest.TestCase):

  def setUp(self):
    self.ws = h.Workspace()
    self.be = h.Backend(self.ws, os.path.join(self.ws.host_dir(NAME), "http-socket"),
                        download_handler)

  def tearDown(self):
    self.ws.close()

  def test_sigterm_closes_listener_and_drains_in_flight_transfers(self):
    sp = h.Sallyport(self.ws, "http")
    clients = []
    for _ in range(2):
      s = sp.connect(timeout=60)
      s.sendall(f"GET /big HTTP/1.1\r\nHost: {NAME}\r\n\r\n".encode())
      hh = hashlib.sha256()
      first = b""
      while len(first) < 65536:  # the transfer is flowing ...
        b = s.recv(65536 - len(first))
        self.assertTrue(b)
        first += b
      hh.update(first)
      clients.append((s, hh, len(first)))  # ... and now stalls: we stop reading
    self.be.wait_conns(2)

    sp.proc.send_signal(signal.SIGTERM)
    draining = sp.wait_event("draining", 1)[0]
    self.assertEqual(draining["in_flight"], 2)
    with self.assertRaises(ConnectionRefusedError):
      h.connect(sp.port, timeout=5)

    results = [None, None]

    def finish(i):
      s, hh, n = clients[i]
      buf = bytearray(1 << 20)
      while True:
        k = s.recv_into(buf)
        if k == 0:
          break
        hh.update(memoryview(buf)[:k])
        n += k
      s.close()
      results[i] = (n, hh.hexdigest())

    threads = [threading.Thread(target=finish, args=(i,)) for i in range(2)]
    for t in threads:
      t.start()
    for t in threads:
      t.join(60)
    self.assertEqual(sp.proc.wait(timeout=60), 0)
    self.assertEqual(sp.stop(), 0)
    shas = sorted(c.sha for c in self.be.conns[:2])
    self.assertEqual(sorted(r[1] for r in results), shas)
    self.assertEqual([r[0] for r in results], [SIZE, SIZE])
    stopped = sp.events("stopped")
    self.assertEqual(len(stopped), 1)
    self.assertEqual(stopped[0]["accepted"], 2)
    conns = sp.events("connection", outcome="relayed")
    self.assertEqual(len(conns), 2)
    self.assertTrue(all(c["end"] == "exit 0" for c in conns))
    self.assertEqual(sp.events("drain-timeout"), [])

  def test_upgrade_hands_the_socket_over_and_refuses_nothing(self):
    """Old and new instance share one listening socket (as systemd hands it
    over): while the old one drains, the new one serves every connection."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(128)
    port = lst.getsockname()[1]
    old = h.Sallyport(self.ws, "http", listen=None, stdin=lst)
    s = h.connect(port, timeout=60)
    s.sendall(f"GET /big HTTP/1.1\r\nHost: {NAME}\r\n\r\n".encode())
    hh = hashlib.sha256()
    first = s.recv(65536)
    self.assertTrue(first)
    hh.update(first)
    new = h.Sallyport(self.ws, "http", listen=None, stdin=lst)
    lst.close()  # the two instances hold the only copies
    old.proc.send_signal(signal.SIGTERM)
    old.wait_event("draining")
    statuses = []
    for i in range(50):
      raw = h.exchange(port, f"GET /x{i} HTTP/1.1\r\nHost: {NAME}\r\n\r\n".encode())
      statuses.append(raw.split(b" ", 2)[1] if raw else b"nothing")
    n = len(first)
    while True:  # the old instance's transfer completes
      b = s.recv(1 << 20)
      if not b:
        break
      hh.update(b)
      n += len(b)
    s.close()
    self.assertEqual(old.proc.wait(timeout=60), 0)
    self.assertEqual(n, SIZE)
    self.assertEqual(hh.hexdigest(), self.be.conns[0].sha)
    self.assertEqual(statuses, [b"200"] * 50)
    self.assertEqual(len(new.wait_event("connection", 50, outcome="relayed")), 50)
    self.assertEqual(new.stop(), 0)

  def test_drain_timeout_kills_a_stuck_transfer_and_exits_0(self):
    sp = h.Sallyport(self.ws, "http", "--drain-timeout=1s")
    s = sp.connect(timeout=30)
    s.sendall(f"GET /stuck HTTP/1.1\r\nHost: {NAME}\r\n\r\n".encode())
    self.be.wait_conns(1)
    sp.proc.send_signal(signal.SIGTERM)
    self.assertEqual(sp.proc.wait(timeout=20), 0)
    self.assertEqual(sp.stop(), 0)
    self.assertEqual(h.read_to_eof(s), b"")  # the relay is gone
    s.close()
    self.assertEqual(sp.events("drain-timeout")[0]["killing"], 1)
    conn = sp.events("connection")[0]
    self.assertEqual(conn["end"], "killed by SIGKILL")
    self.assertEqual(sp.events("security"), [])  # our own kill is no crash
    self.assertEqual(len(sp.events("stopped")), 1)

  def test_sigint_when_idle_exits_0(self):
    sp = h.Sallyport(self.ws, "http")
    self.assertEqual(sp.stop(signal.SIGINT), 0)
    self.assertEqual(len(sp.events("stopped")), 1)


if __name__ == "__main__":
  unittest.main()
