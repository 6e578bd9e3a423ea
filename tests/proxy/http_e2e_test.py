# SPDX-License-Identifier: Apache-2.0
"""sallyport http end to end: curl and raw sockets through the proxy to
HTTP backends on hosts/<name>/http-socket; every refusal is the documented
status with Connection: close and a one-line body."""

import json
import os
import socket
import subprocess
import unittest

import harness as h

A = "a.example.test"
B = "b.example.test"


class HttpTest(h.ServerTestCase):

  @classmethod
  def start_servers(cls):
    cls.backends = {}
    for name in (A, B):
      cls.backends[name] = h.Backend(
          cls.ws, os.path.join(cls.ws.host_dir(name), "http-socket"),
          h.Backend.http(name))
    h.dead_socket(os.path.join(cls.ws.host_dir("down.example.test"), "http-socket"))
    cls.sp = h.Sallyport(cls.ws, "http")

  def curl(self, *args):
    r = subprocess.run(["curl", "-sS", "--max-time", "10", *args],
                       capture_output=True, timeout=h.TIMEOUT)
    return r.returncode, r.stdout.decode("latin-1"), r.stderr.decode("latin-1")

  def url(self, path="/"):
    return f"http://127.0.0.1:{self.sp.port}{path}"

  def raw(self, data):
    return h.parse_http_response(h.exchange(self.sp.port, data))

  def assert_refusal(self, resp, status):
    code, headers, body = resp
    self.assertEqual(code, status, body)
    self.assertEqual(headers.get("connection"), ["close"])
    self.assertEqual(headers.get("content-length"), [str(len(body))])
    self.assertTrue(body.endswith(b"\n"), body)
    self.assertEqual(body.count(b"\n"), 1, body)
    self.assertGreater(len(body.strip()), 0)

  def last_request(self, name):
    be = self.backends[name]
    return bytes(be.conns[-1].received)

  # --- routed ---
  def test_curl_host_header_routes(self):
    for name in (A, B):
      rc, out, err = self.curl("-H", f"Host: {name}", self.url("/hello?x=1"))
      self.assertEqual(rc, 0, err)
      self.assertEqual(out, f"{name} GET /hello?x=1 HTTP/1.1\n")
      self.assertIn(f"\r\nHost: {name}\r\n".encode(), self.last_request(name))

  def test_absolute_form_wins_over_host(self):
    rc, out, err = self.curl("--request-target", f"http://{B}/abs", "-H",
                             f"Host: {A}", self.url())
    self.assertEqual(rc, 0, err)
    self.assertEqual(out, f"{B} GET http://{B}/abs HTTP/1.1\n")

  def test_absolute_form_raw(self):
    code, _, body = self.raw(
        f"GET http://{A}:8080/p HTTP/1.1\r\nHost: {B}\r\n\r\n".encode())
    self.assertEqual(code, 200)
    self.assertEqual(body, f"{A} GET http://{A}:8080/p HTTP/1.1\n".encode())

  def test_port_in_host_trailing_dot_and_case(self):
    for host in (f"{A}:8080", f"{A}.", f"{A}.:80", "A.EXAMPLE.Test"):
      with self.subTest(host=host):
        code, _, body = self.raw(f"GET /x HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        self.assertEqual(code, 200)
        self.assertTrue(body.startswith(A.encode()), body)
        # the exact bytes are replayed: the backend sees the Host as sent
        self.assertIn(f"\r\nHost: {host}\r\n".encode(), self.last_request(A))

  def test_exact_request_bytes_reach_backend(self):
    req = (f"POST /up HTTP/1.1\r\nHost: {B}\r\nContent-Length: 5\r\n"
           f"X-Odd:  spaced \r\n\r\nhello").encode()
    code, _, _ = self.raw(req)
    self.assertEqual(code, 200)
    be = self.backends[B]
    conn = be.conns[-1]
    self.assertTrue(conn.done.wait(h.TIMEOUT))
    self.assertEqual(bytes(conn.received), req)

  def test_http10_routes(self):
    code, _, body = self.raw(f"GET / HTTP/1.0\r\nHost: {A}\r\n\r\n".encode())
    self.assertEqual(code, 200)
    self.assertEqual(body, f"{A} GET / HTTP/1.0\n".encode())

  # --- refused ---
  def test_unknown_host_is_404(self):
    self.assert_refusal(self.raw(b"GET / HTTP/1.1\r\nHost: nope.example.test\r\n\r\n"), 404)
    rc, out, err = self.curl("-H", "Host: nope.example.test", "-o", "/dev/null",
                             "-w", "%{http_code}", self.url())
    self.assertEqual(out, "404")
    rec = self.sp.wait_connection(host="nope.example.test")
    self.assertEqual((rec["outcome"], rec["status"]), ("no-route", 404))

  def test_duplicate_host_is_400(self):
    self.assert_refusal(
        self.raw(f"GET / HTTP/1.1\r\nHost: {A}\r\nHost: {B}\r\n\r\n".encode()), 400)
    self.assert_refusal(
        self.raw(f"GET / HTTP/1.1\r\nHost: {A}\r\nHost: {A}\r\n\r\n".encode()), 400)

  def test_missing_host_is_400(self):
    self.assert_refusal(self.raw(b"GET / HTTP/1.1\r\n\r\n"), 400)

  def test_ip_literal_host_is_404(self):
    for host in ("127.0.0.1", f"127.0.0.1:{self.sp.port}", "[::1]:80"):
      with self.subTest(host=host):
        self.assert_refusal(
            self.raw(f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()), 404)

  def test_malformed_hosts_are_400(self):
    # ":80" once reached a socket at the top of the hosts dir (httpdir)
    for host in (":80", "..", ".", "a.example.test/../b.example.test", "a b",
                 "a..example.test", "-a.example.test", "a.example.test:x"):
      with self.subTest(host=host):
        self.assert_refusal(
            self.raw(f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()), 400)

  def test_hostile_bytes_keep_log_lines_one_printable_json_line(self):
    before = len(self.sp.lines)
    n = len(self.sp.events("connection"))
    for junk in (b"GET / HTTP/1.1\r\nHost: \x1b[31mred\xff\r\n\r\n",
                 b"\x00\x01\x02 \"quoted\\\" \n\n",
                 b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n"):
      h.exchange(self.sp.port, junk)
    self.sp.wait_event("connection", n + 3)
    for line in self.sp.lines[before:]:
      self.assertTrue(all(0x20 <= ord(ch) < 0x7f for ch in line), repr(line))
      json.loads(line)

  def test_head_over_16k_is_431(self):
    big = b"GET / HTTP/1.1\r\nHost: " + A.encode() + b"\r\nX-Big: " + b"a" * 17000 + b"\r\n\r\n"
    self.assert_refusal(self.raw(big), 431)
    # also when the client never ends the head
    s = self.sp.connect()
    s.sendall(b"GET / HTTP/1.1\r\nX: " + b"b" * 20000)
    resp = h.read_to_eof(s)
    s.close()
    self.assert_refusal(h.parse_http_response(resp), 431)

  def test_http2_prior_knowledge_gets_goaway(self):
    rc, _, err = self.curl("--http2-prior-knowledge", "-H", f"Host: {A}", self.url())
    self.assertNotEqual(rc, 0)
    reply = h.exchange(self.sp.port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    frames = []
    off = 0
    while off + 9 <= len(reply):
      length = int.from_bytes(reply[off:off + 3], "big")
      frames.append((reply[off + 3], reply[off + 9:off + 9 + length]))
      off += 9 + length
    self.assertEqual(off, len(reply), reply)
    goaway = [p for t, p in frames if t == 7]
    self.assertEqual(len(goaway), 1, frames)
    self.assertEqual(int.from_bytes(goaway[0][4:8], "big"), 0x0d)  # HTTP_1_1_REQUIRED

  def test_backend_down_is_502(self):
    self.assert_refusal(
        self.raw(b"GET / HTTP/1.1\r\nHost: down.example.test\r\n\r\n"), 502)
    rec = self.sp.wait_connection(host="down.example.test")
    self.assertEqual((rec["outcome"], rec["status"]), ("backend-down", 502))

  def test_host_dir_without_socket_is_404(self):
    self.ws.host_dir("empty.example.test")
    self.assert_refusal(
        self.raw(b"GET / HTTP/1.1\r\nHost: empty.example.test\r\n\r\n"), 404)


class SlowClientTest(unittest.TestCase):

  def test_half_a_head_then_silence_is_408(self):
    ws = h.Workspace()
    try:
      h.Backend(ws, os.path.join(ws.host_dir(A), "http-socket"), h.Backend.http(A))
      sp = h.Sallyport(ws, "http", "--handshake-timeout=1s")
      s = sp.connect()
      s.sendall(f"GET / HTTP/1.1\r\nHost: {A}\r\nUser-Agent: sl".encode())
      resp = h.read_to_eof(s)  # no shutdown: the client just goes quiet
      s.close()
      code, headers, body = h.parse_http_response(resp)
      self.assertEqual(code, 408)
      self.assertEqual(headers.get("connection"), ["close"])
      self.assertEqual(body.count(b"\n"), 1)
      rec = sp.wait_connection()
      self.assertEqual(rec["outcome"], "handshake-timeout")
      self.assertEqual(sp.stop(), 0)
    finally:
      ws.close()


if __name__ == "__main__":
  unittest.main()
