# SPDX-License-Identifier: Apache-2.0
"""Faults under load (issue: the fork server): while short connections flow
without pause, kill -9 the zygote, a waiting child and the relay, one after
another. The service recovers by itself after each (a new zygote, the pool
refilled, a new relay), every connection a client made is accounted for by
exactly one log line, a client whose connection failed finds its failure
logged (never relayed), and connections are served again afterwards. The
zygote's and a waiting child's deaths cost no connection at all."""

import os
import signal
import socket
import threading
import time
import unittest

import harness as h

NAME = "app.example.test"
REQUEST = f"GET / HTTP/1.1\r\nHost: {NAME}\r\n\r\n".encode()
WORKERS = 3
BODY = f"{NAME}-ok GET / HTTP/1.1\n".encode()


class Load:
  """WORKERS threads making one short connection after another."""

  def __init__(self, port):
    self.port = port
    self.ok = 0
    self.failed = 0
    self.lock = threading.Lock()
    self.stop = threading.Event()
    self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(WORKERS)]
    for t in self.threads:
      t.start()

  def _run(self):
    while not self.stop.is_set():
      try:
        raw = h.exchange(self.port, REQUEST, timeout=20)
        good = raw.startswith(b"HTTP/1.1 200") and raw.endswith(BODY)
      except (ConnectionError, socket.timeout, OSError):
        good = False
      with self.lock:
        if good:
          self.ok += 1
        else:
          self.failed += 1

  def counts(self):
    with self.lock:
      return self.ok, self.failed

  def wait_for_more(self, n=20):
    start = sum(self.counts())
    h.wait_until(lambda: self.counts()[0] + self.counts()[1] >= start + n,
                 what=f"{n} more connections")

  def finish(self):
    self.stop.set()
    for t in self.threads:
      t.join(60)
    return self.counts()


class FaultsUnderLoadTest(unittest.TestCase):

  def setUp(self):
    self.ws = h.Workspace()
    self.addCleanup(self.ws.close)
    d = self.ws.host_dir(NAME)
    h.Backend(self.ws, os.path.join(d, "http-socket"), h.Backend.http(f"{NAME}-ok"))
    self.sp = h.Sallyport(self.ws, "http", "--prefork=3", "--rate-per-ip=100000",
                          "--max-per-ip=1000")

  def one(self, argv0, exclude=()):
    pids = h.wait_until(lambda: [p for p in self.sp.named(argv0) if p not in exclude],
                        what=f"a {argv0}")
    return pids[0]

  def test_kill_zygote_waiting_child_and_relay_while_connections_flow(self):
    load = Load(self.sp.port)
    self.addCleanup(load.stop.set)
    load.wait_for_more()
    ok0, failed0 = load.counts()
    # The zygote: a new one starts; waiting children are the parent's and
    # keep serving meanwhile.
    zygote = self.one("sallyport-zygote")
    os.kill(zygote, signal.SIGKILL)
    self.one("sallyport-zygote", exclude=(zygote,))
    load.wait_for_more()
    # A waiting child: the parent hands connections to the others.
    child = self.one("sallyport-child")
    os.kill(child, signal.SIGKILL)
    load.wait_for_more()
    ok1, failed1 = load.counts()
    # The relay: what it held at that instant is closed and logged.
    relay = self.one("sallyport-relay")
    os.kill(relay, signal.SIGKILL)
    self.one("sallyport-relay", exclude=(relay,))
    load.wait_for_more(50)
    ok, failed = load.finish()
    attempts = ok + failed
    self.assertGreater(ok, ok1, "connections are served after the faults")
    # Every connection made has exactly one line.
    lines = h.wait_until(lambda: (len(self.sp.events("connection")) +
                                  len(self.sp.events("refused"))) >= attempts and
                         self.sp.events("connection"), what=f"{attempts} lines")
    refused = self.sp.events("refused")
    self.assertEqual(len(lines) + len(refused), attempts, (ok, failed, refused))
    not_relayed = [r for r in lines if r["outcome"] != "relayed"]
    self.assertLessEqual(failed, len(not_relayed) + len(refused), not_relayed)
    for r in not_relayed:
      # The connection was lost with the killed process, and said so.
      self.assertIn(r["outcome"], ("relay-error", "no-report"), r)
    # The zygote's death cost nothing; a waiting child's at most the one
    # connection it had just been given.
    self.assertLessEqual(failed1 - failed0, 1, "a waiting child's death")
    # The relay's death is logged with the connections it lost.
    lost = [r for r in self.sp.events("error") if "relay killed by SIGKILL" in r.get("what", "")]
    self.assertEqual(len(lost), 1, self.sp.events("error"))
    # And the service still answers.
    raw = h.exchange(self.sp.port, REQUEST)
    self.assertTrue(raw.endswith(BODY), raw)


if __name__ == "__main__":
  unittest.main()
