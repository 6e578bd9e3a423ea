# SPDX-License-Identifier: Apache-2.0
"""PROXY protocol end to end: send-proxy-v1 / send-proxy-v2 markers make the
backend receive exactly the right header (computed here, independently,
from the client's own socket addresses) followed by the client's exact
bytes; --accept-proxy takes the client address from the upstream's header
and refuses connections without a valid one."""

import ipaddress
import os
import socket
import struct
import unittest

import harness as h

V1 = "v1.example.test"
V2 = "v2.example.test"
PLAIN = "plain.example.test"
BOTH = "both.example.test"
SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def expected_v1(src, dst):
  fam = "TCP6" if ":" in src[0] else "TCP4"
  return f"PROXY {fam} {src[0]} {dst[0]} {src[1]} {dst[1]}\r\n".encode()


def expected_v2(src, dst, authority):
  v6 = ":" in src[0]
  addrs = (ipaddress.ip_address(src[0]).packed + ipaddress.ip_address(dst[0]).packed +
           struct.pack(">HH", src[1], dst[1]))
  tlv = b"\x02" + struct.pack(">H", len(authority)) + authority.encode()
  payload = addrs + tlv
  return SIG + b"\x21" + (b"\x21" if v6 else b"\x11") + struct.pack(">H", len(payload)) + payload


def setup_hosts(ws, sock_name):
  backends = {}
  for name, marker in ((V1, "send-proxy-v1"), (V2, "send-proxy-v2"), (PLAIN, None),
                       (BOTH, "both")):
    d = ws.host_dir(name)
    markers = ["send-proxy-v1", "send-proxy-v2"] if marker == "both" else \
        [marker] if marker else []
    for m in markers:
      open(os.path.join(d, m), "w").close()
    backends[name] = h.Backend(ws, os.path.join(d, sock_name))
  return backends


def received(be, index):
  conn = be.wait_conns(index + 1)[index]
  if not conn.done.wait(h.TIMEOUT):
    raise AssertionError("backend connection did not finish")
  return bytes(conn.received)


class MarkerTest(h.ServerTestCase):
  """TLS listener on 127.0.0.1 and on [::1]."""

  @classmethod
  def start_servers(cls):
    cls.backends = setup_hosts(cls.ws, "tls-socket")
    cls.sp4 = h.Sallyport(cls.ws, "tls", listen="127.0.0.1")
    cls.sp6 = h.Sallyport(cls.ws, "tls", listen="::1")

  def send(self, sp, name, tail=b"\x17\x03\x03\x00\x04data"):
    be = self.backends[name]
    index = len(be.conns)
    hello = h.client_hello(name)
    s = sp.connect()
    src = s.getsockname()[:2]
    dst = s.getpeername()[:2]
    s.sendall(hello + tail)
    s.shutdown(socket.SHUT_WR)
    reply = h.read_to_eof(s)
    s.close()
    return src, dst, hello + tail, reply, index

  def test_v1_ipv4_and_ipv6(self):
    for sp in (self.sp4, self.sp6):
      with self.subTest(listen=sp.host):
        src, dst, sent, reply, i = self.send(sp, V1)
        self.assertEqual(reply, b"")
        self.assertEqual(received(self.backends[V1], i), expected_v1(src, dst) + sent)
        rec = sp.wait_connection(host=V1, client=f"{src[0]}:{src[1]}" if sp is self.sp4
                                 else f"[{src[0]}]:{src[1]}")
        self.assertEqual(rec["proxy_header"], 1)

  def test_v2_ipv4_and_ipv6_with_authority(self):
    for sp in (self.sp4, self.sp6):
      with self.subTest(listen=sp.host):
        src, dst, sent, reply, i = self.send(sp, V2)
        self.assertEqual(reply, b"")
        got = received(self.backends[V2], i)
        self.assertEqual(got, expected_v2(src, dst, V2) + sent)

  def test_v2_authority_is_the_canonical_routed_name(self):
    be = self.backends[V2]
    i = len(be.conns)
    hello = h.client_hello("V2.Example.TEST.")
    s = self.sp4.connect()
    src, dst = s.getsockname(), s.getpeername()
    s.sendall(hello)
    s.shutdown(socket.SHUT_WR)
    self.assertEqual(h.read_to_eof(s), b"")
    s.close()
    self.assertEqual(received(be, i), expected_v2(src, dst, V2) + hello)

  def test_no_marker_no_header(self):
    src, dst, sent, reply, i = self.send(self.sp4, PLAIN)
    self.assertEqual(received(self.backends[PLAIN], i), sent)

  def test_both_markers_refused(self):
    src, dst, sent, reply, i = self.send(self.sp4, BOTH)
    self.assertEqual(reply, h.alert_record(h.ALERT_UNRECOGNIZED_NAME))
    self.assertEqual(len(self.backends[BOTH].conns), 0)


class HttpMarkerTest(unittest.TestCase):

  def test_http_v1_and_v2(self):
    ws = h.Workspace()
    try:
      backends = setup_hosts(ws, "http-socket")
      sp = h.Sallyport(ws, "http")
      for name, expect in ((V1, expected_v1), (V2, lambda s, d: expected_v2(s, d, name))):
        req = f"GET /x HTTP/1.1\r\nHost: {name}\r\n\r\nbody after head".encode()
        s = sp.connect()
        src, dst = s.getsockname(), s.getpeername()
        s.sendall(req)
        s.shutdown(socket.SHUT_WR)
        h.read_to_eof(s)
        s.close()
        self.assertEqual(received(backends[name], 0), expect(src, dst) + req)
      self.assertEqual(sp.stop(), 0)
    finally:
      ws.close()


class AcceptProxyTest(h.ServerTestCase):

  @classmethod
  def start_servers(cls):
    cls.tls = setup_hosts(cls.ws, "tls-socket")
    # http backends live next to the tls ones in the same host dirs
    cls.http = {n: h.Backend(cls.ws, cls.ws.path(n, "http-socket"))
                for n in (V1, V2, PLAIN)}
    cls.sp_tls = h.Sallyport(cls.ws, "tls", "--accept-proxy=127.0.0.1/32")
    cls.sp_http = h.Sallyport(cls.ws, "http", "--accept-proxy=127.0.0.1/32")

  UP4 = (("203.0.113.7", 40001), ("198.51.100.1", 443))
  UP6 = (("2001:db8::7", 50002), ("2001:db8::1", 8443))

  def upstream_v2(self, src, dst):
    v6 = ":" in src[0]
    addrs = (ipaddress.ip_address(src[0]).packed + ipaddress.ip_address(dst[0]).packed +
             struct.pack(">HH", src[1], dst[1]))
    return SIG + b"\x21" + (b"\x21" if v6 else b"\x11") + struct.pack(">H", len(addrs)) + addrs

  def via_balancer(self, sp, header, payload):
    s = sp.connect()
    s.sendall(header + payload)
    s.shutdown(socket.SHUT_WR)
    reply = h.read_to_eof(s)
    s.close()
    return reply

  def test_tls_v1_upstream_header_to_v2_backend(self):
    src, dst = self.UP4
    hello = h.client_hello(V2)
    i = len(self.tls[V2].conns)
    self.via_balancer(self.sp_tls, expected_v1(src, dst), hello)
    self.assertEqual(received(self.tls[V2], i), expected_v2(src, dst, V2) + hello)
    rec = self.sp_tls.wait_connection(host=V2, proxied_client="203.0.113.7:40001")
    self.assertTrue(rec["client"].startswith("127.0.0.1:"))

  def test_tls_v2_upstream_header_ipv6_to_v1_backend(self):
    src, dst = self.UP6
    hello = h.client_hello(V1)
    i = len(self.tls[V1].conns)
    self.via_balancer(self.sp_tls, self.upstream_v2(src, dst), hello)
    self.assertEqual(received(self.tls[V1], i), expected_v1(src, dst) + hello)
    self.sp_tls.wait_connection(host=V1, proxied_client="[2001:db8::7]:50002")

  def test_http_v1_and_v2_upstream_headers(self):
    for header, (src, dst), name, expect in (
        (expected_v1(*self.UP6), self.UP6, V2, lambda s, d: expected_v2(s, d, V2)),
        (self.upstream_v2(*self.UP4), self.UP4, V1, expected_v1)):
      with self.subTest(name=name):
        req = f"GET / HTTP/1.1\r\nHost: {name}\r\n\r\n".encode()
        i = len(self.http[name].conns)
        self.via_balancer(self.sp_http, header, req)
        self.assertEqual(received(self.http[name], i), expect(src, dst) + req)

  def test_http_without_header_is_400(self):
    i = len(self.http[PLAIN].conns)
    reply = self.via_balancer(self.sp_http, b"",
                              f"GET / HTTP/1.1\r\nHost: {PLAIN}\r\n\r\n".encode())
    code, headers, body = h.parse_http_response(reply)
    self.assertEqual(code, 400)
    self.assertEqual(headers.get("connection"), ["close"])
    self.assertEqual(len(self.http[PLAIN].conns), i)
    rec = self.sp_http.wait_connection(outcome="bad-proxy-header")
    self.assertEqual(rec["status"], 400)

  def test_tls_without_header_is_closed(self):
    i = len(self.tls[PLAIN].conns)
    reply = self.via_balancer(self.sp_tls, b"", h.client_hello(PLAIN))
    self.assertEqual(reply, b"")
    self.assertEqual(len(self.tls[PLAIN].conns), i)
    self.sp_tls.wait_connection(outcome="bad-proxy-header")

  def test_tls_garbled_v1_header_is_closed(self):
    reply = self.via_balancer(self.sp_tls, b"PROXY TCP4 1.2.3 4.5.6.7 1 2\r\n",
                              h.client_hello(PLAIN))
    self.assertEqual(reply, b"")


if __name__ == "__main__":
  unittest.main()
