# SPDX-License-Identifier: Apache-2.0
"""--accept-proxy=CIDR end to end: only the listed balancers may connect (a
PROXY header from any other source is closed unread and never reaches a
backend), and the per-client limits and the crash throttle key on the real
client from the balancer's PROXY v2 header, not on the balancer: one client
at --max-per-ip, or one that crashes children, is refused while other
clients behind the same balancer (IPv4 and IPv6) keep working."""

import os
import socket
import unittest

import harness as h

NAME = "app.example.test"
CRASH = "sigsys.crash.test"   # proxy/test_hooks.h: the child dies by SIGSYS
SEGV = "segv.crash.test"      # ... by SIGSEGV
TRUSTED = "--accept-proxy=127.0.0.1/32,::1"
DST4 = ("198.51.100.1", 443)
DST6 = ("2001:db8::1", 443)


def serve_hosts(ws):
  backends = {}
  for name in (NAME, CRASH, SEGV):
    d = ws.host_dir(name)
    backends[name] = (
        h.Backend(ws, os.path.join(d, "tls-socket"), h.Backend.greet("tls-ok")),
        h.Backend(ws, os.path.join(d, "http-socket"), h.Backend.http("http-ok")))
  return backends


def header_for(client):
  return h.proxy_v2(client, DST6 if ":" in client[0] else DST4)


def via(sp, client, payload, source=None):
  """One connection through the "balancer" (this process, from `source`):
  PROXY v2 header for `client`, then payload, half-close; returns the reply."""
  s = sp.connect(source=source)
  try:
    s.sendall(header_for(client) + payload)
    s.shutdown(socket.SHUT_WR)
    return h.read_to_eof(s)
  finally:
    s.close()


def via_untrusted(sp, client, payload, source):
  """Like via(), from a source sallyport does not trust: it closes the
  connection unread, so the send or half-close may meet a reset."""
  s = sp.connect(source=source)
  try:
    try:
      s.sendall(header_for(client) + payload)
      s.shutdown(socket.SHUT_WR)
    except OSError:
      pass
    return h.read_to_eof(s)
  finally:
    s.close()


def display(client):
  addr, port = client
  return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


class TrustTest(h.ServerTestCase):

  @classmethod
  def start_servers(cls):
    cls.backends = serve_hosts(cls.ws)
    cls.tls = h.Sallyport(cls.ws, "tls", TRUSTED)
    cls.http = h.Sallyport(cls.ws, "http", TRUSTED)
    cls.tls6 = h.Sallyport(cls.ws, "tls", TRUSTED, listen="::1")

  def test_started_line_names_the_trusted_networks(self):
    rec = self.tls.events("started")[0]
    self.assertEqual(rec["accept_proxy"], "127.0.0.1/32,::1/128")

  def test_trusted_balancer_ipv4_and_ipv6(self):
    self.assertEqual(via(self.tls, ("203.0.113.5", 40000), h.client_hello(NAME)),
                     b"tls-ok\n")
    self.tls.wait_connection(host=NAME, proxied_client="203.0.113.5:40000")
    self.assertEqual(via(self.tls6, ("2001:db8::5", 40001), h.client_hello(NAME)),
                     b"tls-ok\n")
    rec = self.tls6.wait_connection(host=NAME, proxied_client="[2001:db8::5]:40001")
    self.assertTrue(rec["client"].startswith("[::1]:"), rec)

  def test_untrusted_source_is_closed_unread_tls(self):
    tls_be = self.backends[NAME][0]
    before = len(tls_be.conns)
    client = ("203.0.113.6", 40002)
    reply = via_untrusted(self.tls, client, h.client_hello(NAME), "127.0.0.3")
    self.assertEqual(reply, b"")
    rec = self.tls.wait_event("refused", 1, reason="source not in --accept-proxy")[0]
    self.assertTrue(rec["client"].startswith("127.0.0.3:"), rec)
    self.assertNotIn("proxied_client", rec)  # its header was never read
    # nothing reached a backend, and no child ever ran for it
    self.assertEqual(len(tls_be.conns), before)
    self.assertEqual(self.tls.events("connection", proxied_client=display(client)), [])

  def test_untrusted_source_is_closed_unread_http(self):
    http_be = self.backends[NAME][1]
    before = len(http_be.conns)
    req = f"GET / HTTP/1.1\r\nHost: {NAME}\r\n\r\n".encode()
    reply = via_untrusted(self.http, ("203.0.113.6", 40003), req, "127.0.0.4")
    self.assertEqual(reply, b"")
    rec = self.http.wait_event("refused", 1, reason="source not in --accept-proxy")[0]
    self.assertTrue(rec["client"].startswith("127.0.0.4:"), rec)
    self.assertEqual(len(http_be.conns), before)

  def test_local_header_is_the_balancer_itself(self):
    # A health check (LOCAL) carries no client: the balancer is the client.
    s = self.tls.connect()
    s.sendall(h.proxy_v2_local() + h.client_hello(NAME))
    s.shutdown(socket.SHUT_WR)
    self.assertEqual(h.read_to_eof(s), b"tls-ok\n")
    local = s.getsockname()
    s.close()
    self.tls.wait_connection(client=display(local[:2]), host=NAME)


class PerClientLimitTest(h.ServerTestCase):
  """--max-per-ip=2 behind one balancer: the third connection of one client
  is refused, three other clients (IPv4 and IPv6) get through."""

  @classmethod
  def start_servers(cls):
    serve_hosts(cls.ws)
    cls.tls = h.Sallyport(cls.ws, "tls", TRUSTED, "--max-per-ip=2")
    cls.http = h.Sallyport(cls.ws, "http", TRUSTED, "--max-per-ip=2")

  def hold(self, sp, client, payload, answer):
    """A connection for `client` that got its answer and stays open."""
    s = sp.connect()
    s.sendall(header_for(client) + payload)
    got = b""
    while len(got) < len(answer):
      b = s.recv(4096)
      if not b:
        break
      got += b
    self.assertTrue(got.startswith(answer[:8]), got)
    return s

  def check(self, sp, hello_or_request, ok, refused_reply_check):
    held = [self.hold(sp, ("203.0.113.7", 41000 + i), hello_or_request, ok)
            for i in range(2)]
    try:
      third = via(sp, ("203.0.113.7", 41002), hello_or_request)
      refused_reply_check(third)
      rec = sp.wait_event("refused", 1, proxied_client="203.0.113.7:41002")[0]
      self.assertEqual(rec["reason"], "over --max-per-ip")
      self.assertTrue(rec["client"].startswith("127.0.0.1:"), rec)
      # the same balancer, other clients: served
      for other in (("198.51.100.9", 42000), ("2001:db8::9", 42001),
                    ("2001:db8:1::10", 42002)):
        with self.subTest(client=other):
          self.assertTrue(via(sp, other, hello_or_request).startswith(ok[:8]))
          sp.wait_connection(proxied_client=display(other), outcome="relayed")
      # the refused one left no connection line behind (it was logged once)
      self.assertEqual(sp.events("connection", proxied_client="203.0.113.7:41002"), [])
    finally:
      for s in held:
        s.close()
    # once its connections end, the client is served again
    h.wait_until(lambda: not sp.children(), what="held children gone")
    self.assertTrue(via(sp, ("203.0.113.7", 41003), hello_or_request).startswith(ok[:8]))

  def test_tls(self):
    self.check(self.tls, h.client_hello(NAME), b"tls-ok\n",
               lambda r: self.assertEqual(r, h.alert_record(h.ALERT_INTERNAL_ERROR)))

  def test_http(self):
    req = f"GET / HTTP/1.1\r\nHost: {NAME}\r\n\r\n".encode()

    def is_503(reply):
      code, headers, _ = h.parse_http_response(reply)
      self.assertEqual(code, 503)
      self.assertEqual(headers.get("connection"), ["close"])

    self.check(self.http, req, b"HTTP/1.1 200 OK", is_503)


class CrashThrottleTest(unittest.TestCase):
  """Children crashed on demand (the test hook) by one client behind the
  balancer throttle that client only."""

  def test_crashes_throttle_only_that_client(self):
    ws = h.Workspace()
    try:
      serve_hosts(ws)
      sp = h.Sallyport(ws, "tls", TRUSTED, "--max-crashes-per-minute=100",
                       exe=h.testhooks_binary())
      evil = "203.0.113.66"
      for i in range(3):
        client = (evil, 43000 + i)
        self.assertEqual(via(sp, client, h.client_hello(CRASH)), b"")
        rec = sp.wait_event("security", 1, proxied_client=display(client))[0]
        self.assertEqual(rec["signal"], 31)
        self.assertEqual(rec["what"], "child killed by SIGSYS")
        self.assertEqual(sp.wait_connection(proxied_client=display(client))["end"],
                         "killed by SIGSYS")
      throttled = sp.wait_event("security", 1, client=evil)[0]
      self.assertIn("source throttled", throttled["what"])
      # that client is refused now, even for a harmless host ...
      self.assertEqual(via(sp, (evil, 43010), h.client_hello(NAME)),
                       h.alert_record(h.ALERT_INTERNAL_ERROR))
      rec = sp.wait_event("refused", 1, proxied_client=f"{evil}:43010")[0]
      self.assertEqual(rec["reason"], "source throttled after crashing children")
      # ... while the balancer and every other client behind it are not
      for other in (("203.0.113.67", 43020), ("2001:db8::66", 43021)):
        self.assertEqual(via(sp, other, h.client_hello(NAME)), b"tls-ok\n")
      self.assertEqual(sp.events("refused", reason="source not in --accept-proxy"), [])
      # a SIGSEGV counts the same way, against its own client
      self.assertEqual(via(sp, ("198.51.100.77", 43030), h.client_hello(SEGV)), b"")
      rec = sp.wait_event("security", 1, proxied_client="198.51.100.77:43030")[0]
      self.assertEqual((rec["signal"], rec["what"]), (11, "child killed by SIGSEGV"))
      self.assertEqual(via(sp, ("198.51.100.77", 43031), h.client_hello(NAME)),
                       b"tls-ok\n")
      self.assertEqual(sp.stop(), 0)
    finally:
      ws.close()


class FlagTest(unittest.TestCase):

  def run_flags(self, *flags):
    import subprocess
    ws = h.Workspace()
    try:
      r = subprocess.run([h.binary(), "tls", f"--hosts={ws.hosts}", "--user=nobody",
                          f"--listen=127.0.0.1:{h.free_port()}", *flags],
                         capture_output=True, text=True, timeout=h.TIMEOUT,
                         stdin=subprocess.DEVNULL)
      return r.returncode, r.stdout + r.stderr
    finally:
      ws.close()

  def test_bare_accept_proxy_names_the_new_form(self):
    for spelling in ("--accept-proxy", "--accept_proxy"):
      rc, out = self.run_flags(spelling)
      self.assertEqual(rc, 2, out)
      self.assertIn("--accept-proxy=CIDR[,CIDR...]", out)

  def test_bad_networks_are_named(self):
    for value, words in (("10.0.0.5/8", "did you mean 10.0.0.0/8?"),
                         ("example.com", "not an IPv4 or IPv6 address"),
                         ("10.0.0.0/33", "from 0 to 32"),
                         ("127.0.0.1,", "empty entry")):
      rc, out = self.run_flags(f"--accept-proxy={value}")
      self.assertEqual(rc, 2, out)
      self.assertIn(words, out)
      self.assertIn(f"--accept-proxy={value}", out)


if __name__ == "__main__":
  unittest.main()
