# SPDX-License-Identifier: Apache-2.0
"""Admission limits end to end: --max-per-ip refuses the third connection
from one source (TLS internal_error alert, HTTP 503) but serves another
source; 500 silent clients do not starve a real one; a child killed by a
signal is reported as a security event, and repeated crashes throttle the
source."""

import os
import signal
import socket
import threading
import unittest

import harness as h

NAME = "app.example.test"


def serve_hosts(ws):
  d = ws.host_dir(NAME)
  return (h.Backend(ws, os.path.join(d, "tls-socket"), h.Backend.greet("tls-ok")),
          h.Backend(ws, os.path.join(d, "http-socket"), h.Backend.http("http-ok")))


def new_child(sp, known):
  """Waits for a child of sallyport not in `known`; returns its pid."""
  found = h.wait_until(lambda: set(sp.children()) - known, what="a new child")
  return found.pop()


class PerIpTest(h.ServerTestCase):

  @classmethod
  def start_servers(cls):
    serve_hosts(cls.ws)
    cls.tls = h.Sallyport(cls.ws, "tls", "--max-per-ip=2")
    cls.http = h.Sallyport(cls.ws, "http", "--max-per-ip=2")

  def hold_two(self, sp):
    held = [sp.connect(), sp.connect()]
    h.wait_until(lambda: len(sp.children()) == 2, what="two live children")
    return held

  def test_tls_third_connection_refused_other_source_served(self):
    held = self.hold_two(self.tls)
    try:
      third = h.exchange(self.tls.port, h.client_hello(NAME))
      self.assertEqual(third, h.alert_record(h.ALERT_INTERNAL_ERROR))
      rec = self.tls.wait_event("refused", 1)[0]
      self.assertEqual(rec["reason"], "over --max-per-ip")
      self.assertTrue(rec["client"].startswith("127.0.0.1:"))
      other = h.exchange(self.tls.port, h.client_hello(NAME), source="127.0.0.2")
      self.assertEqual(other, b"tls-ok\n")
    finally:
      for s in held:
        s.close()
    # once the held connections end, 127.0.0.1 is served again
    h.wait_until(lambda: not self.tls.children(), what="held children gone")
    self.assertEqual(h.exchange(self.tls.port, h.client_hello(NAME)), b"tls-ok\n")

  def test_http_third_connection_is_503_other_source_served(self):
    held = self.hold_two(self.http)
    try:
      req = f"GET / HTTP/1.1\r\nHost: {NAME}\r\n\r\n".encode()
      code, headers, body = h.parse_http_response(h.exchange(self.http.port, req))
      self.assertEqual(code, 503)
      self.assertEqual(headers.get("connection"), ["close"])
      code, _, body = h.parse_http_response(
          h.exchange(self.http.port, req, source="127.0.0.2"))
      self.assertEqual((code, body), (200, b"http-ok GET / HTTP/1.1\n"))
    finally:
      for s in held:
        s.close()


class QuickSequentialClientsTest(unittest.TestCase):

  def test_ended_connections_do_not_count_against_max_per_ip(self):
    # 4 clients, each strictly sequential: never more than 4 open at once,
    # so --max-per-ip=8 must never refuse (ended-but-unreaped children used
    # to count as live: up to 15% of these were refused).
    ws = h.Workspace()
    try:
      serve_hosts(ws)
      sp = h.Sallyport(ws, "tls", "--max-per-ip=8")
      hello = h.client_hello(NAME)
      answers = []

      def loop():
        for _ in range(200):
          answers.append(h.exchange(sp.port, hello))

      threads = [threading.Thread(target=loop) for _ in range(4)]
      for t in threads:
        t.start()
      for t in threads:
        t.join(120)
      self.assertEqual(len(answers), 800)
      self.assertEqual(sp.events("refused")[:3], [])
      self.assertEqual(answers.count(b"tls-ok\n"), 800)
      self.assertEqual(sp.stop(), 0)
    finally:
      ws.close()


class RateAndGlobalCapTest(unittest.TestCase):

  def test_rate_per_ip_refuses_a_burst_and_a_low_rate_still_admits(self):
    ws = h.Workspace()
    try:
      serve_hosts(ws)
      # 0.25/s: a bucket of one token (a burst below one used to admit nothing)
      sp = h.Sallyport(ws, "tls", "--rate-per-ip=0.25")
      hello = h.client_hello(NAME)
      self.assertEqual(h.exchange(sp.port, hello), b"tls-ok\n")
      self.assertEqual(h.exchange(sp.port, hello), h.alert_record(h.ALERT_INTERNAL_ERROR))
      self.assertEqual(sp.wait_event("refused", 1)[0]["reason"], "over --rate-per-ip")
      self.assertEqual(h.exchange(sp.port, hello, source="127.0.0.2"), b"tls-ok\n")
      self.assertEqual(sp.stop(), 0)
    finally:
      ws.close()

  def test_max_connections_counts_every_source(self):
    ws = h.Workspace()
    try:
      serve_hosts(ws)
      sp = h.Sallyport(ws, "http", "--max-connections=2")
      held = [sp.connect(source="127.0.0.2"), sp.connect(source="127.0.0.3")]
      h.wait_until(lambda: len(sp.children()) == 2, what="two live children")
      req = f"GET / HTTP/1.1\r\nHost: {NAME}\r\n\r\n".encode()
      code, _, _ = h.parse_http_response(h.exchange(sp.port, req, source="127.0.0.4"))
      self.assertEqual(code, 503)
      self.assertEqual(sp.wait_event("refused", 1)[0]["reason"], "over --max-connections")
      for s in held:
        s.close()
      h.wait_until(lambda: not sp.children(), what="held children gone")
      code, _, _ = h.parse_http_response(h.exchange(sp.port, req, source="127.0.0.4"))
      self.assertEqual(code, 200)
      self.assertEqual(sp.stop(), 0)
    finally:
      ws.close()


class SilentClientsTest(unittest.TestCase):

  def test_500_silent_clients_do_not_block_a_real_one(self):
    ws = h.Workspace()
    silent = []
    try:
      serve_hosts(ws)
      sp = h.Sallyport(ws, "tls", "--max-per-ip=1000", "--max-connections=1000",
                       "--handshake-timeout=120s")
      for _ in range(500):
        silent.append(sp.connect())
      h.wait_until(lambda: len(sp.children()) >= 500, timeout=60,
                   what="500 children for the silent clients")
      reply = h.exchange(sp.port, h.client_hello(NAME), timeout=10)
      self.assertEqual(reply, b"tls-ok\n")
      self.assertEqual(sp.events("refused"), [])
      for s in silent:
        s.close()
      silent = []
      sp.wait_event("connection", 501, timeout=60)
      self.assertEqual(sp.stop(), 0)
    finally:
      for s in silent:
        s.close()
      ws.close()


class CrashTest(unittest.TestCase):

  def test_killed_child_is_a_security_event_and_repeat_crashes_throttle(self):
    ws = h.Workspace()
    try:
      serve_hosts(ws)
      sp = h.Sallyport(ws, "tls", "--handshake-timeout=60s")
      hello = h.client_hello(NAME)
      for i in range(3):
        known = set(sp.children())
        s = h.connect(sp.port, source="127.0.0.3")
        s.sendall(hello[:20])  # a slow client: half a record, then nothing
        pid = new_child(sp, known)
        os.kill(pid, signal.SIGSYS)
        self.assertEqual(h.read_to_eof(s), b"")
        client = "127.0.0.3:%d" % s.getsockname()[1]
        s.close()
        rec = sp.wait_event("security", 1, client=client)[0]
        self.assertEqual(rec["signal"], 31)
        self.assertIn("SIGSYS", rec["what"])
        conn = sp.wait_connection(client=client)
        self.assertEqual(conn["end"], "killed by SIGSYS")
        h.wait_until(lambda: not sp.children(), what="child reaped")
      throttled = sp.wait_event("security", 1, client="127.0.0.3")[0]
      self.assertIn("source throttled", throttled["what"])
      # the next connection from that source is refused
      self.assertEqual(h.exchange(sp.port, hello, source="127.0.0.3"),
                       h.alert_record(h.ALERT_INTERNAL_ERROR))
      refused = sp.wait_event("refused", 1)[0]
      self.assertTrue(refused["reason"].startswith("source throttled"), refused)
      # other sources are unaffected
      self.assertEqual(h.exchange(sp.port, hello), b"tls-ok\n")
      self.assertEqual(sp.stop(), 0)
    finally:
      ws.close()


if __name__ == "__main__":
  unittest.main()
