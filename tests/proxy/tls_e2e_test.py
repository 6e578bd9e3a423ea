# SPDX-License-Identifier: Apache-2.0
"""sallyport tls end to end: real clients (openssl s_client, curl, gnutls-cli)
handshake through the proxy with real backends (openssl s_server -unix);
raw replays of real ClientHello captures reach a recording backend
byte-identical; refusals answer the documented alerts."""

import glob
import json
import os
import socket
import struct
import subprocess
import threading
import time
import unittest

import harness as h

A = "a.example.test"
B = "b.example.test"


def trailing_bytes(record, extra):
  """The one-record hello with `extra` appended inside the handshake body."""
  rec_len = struct.unpack(">H", record[3:5])[0] + len(extra)
  hs_len = int.from_bytes(record[6:9], "big") + len(extra)
  return (record[:3] + struct.pack(">H", rec_len) + record[5:6] +
          hs_len.to_bytes(3, "big") + record[9:] + extra)


class RealClientsTest(h.ServerTestCase):
  """Two hosts with distinct certificates behind openssl s_server."""

  @classmethod
  def start_servers(cls):
    for name in (A, B):
      h.openssl_backend(cls.ws, cls.ws.host_dir(name), name)
    cls.sp = h.Sallyport(cls.ws, "tls")

  def s_client(self, name, *extra):
    r = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{self.sp.port}",
         "-servername", name, *extra],
        input=b"", capture_output=True, timeout=h.TIMEOUT)
    return r.returncode, r.stdout.decode("latin-1") + r.stderr.decode("latin-1")

  def test_openssl_s_client_sees_each_hosts_certificate(self):
    for name in (A, B, "A.Example.TEST"):
      rc, out = self.s_client(name)
      self.assertEqual(rc, 0, out)
      self.assertEqual(h.cert_cn_from_openssl(out), name.lower(), out)
      self.assertIn("New, TLSv1.3", out)  # a full handshake completed

  def test_curl_sees_each_hosts_certificate(self):
    for name in (A, B):
      r = subprocess.run(
          ["curl", "-sS", "-v", "-k", "--max-time", "10", "--resolve",
           f"{name}:{self.sp.port}:127.0.0.1", f"https://{name}:{self.sp.port}/"],
          capture_output=True, timeout=h.TIMEOUT)
      err = r.stderr.decode("latin-1")
      self.assertEqual(r.returncode, 0, err)
      self.assertIn(f"subject: CN={name}", err)
      # s_server -www answered over the tunnel: an HTTP page came back.
      self.assertIn(b"HTTP/1.0 200 ok", r.stdout + r.stderr)

  def test_gnutls_cli_sees_each_hosts_certificate(self):
    for name in (A, B):
      r = subprocess.run(
          ["gnutls-cli", "--insecure", "-p", str(self.sp.port),
           "--sni-hostname", name, "127.0.0.1"],
          input=b"", capture_output=True, timeout=h.TIMEOUT)
      out = (r.stdout + r.stderr).decode("latin-1")
      self.assertEqual(r.returncode, 0, out)
      self.assertIn("Handshake was completed", out)
      self.assertIn(f"subject `CN={name}'", out)
      self.assertNotIn(f"subject `CN={A if name == B else B}'", out)

  def test_clienthello_fragmented_over_three_records_routes(self):
    # 24 long ALPN names and -max_send_frag 512: the hello spans >= 3
    # records. First capture it from a plain TCP listener to prove the shape.
    alpn = ",".join(f"proto-{i:02d}-" + "x" * 50 for i in range(24))
    args = ["-max_send_frag", "512", "-alpn", alpn]
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    lst.settimeout(h.TIMEOUT)
    port = lst.getsockname()[1]
    p = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                          "-servername", B, *args], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
      c, _ = lst.accept()
      c.settimeout(h.TIMEOUT)
      got = b""
      records = []
      hs_len = None
      # read whole records until the ClientHello is complete
      while hs_len is None or sum(records) < hs_len + 4:
        while len(got) < 5 or len(got) < 5 + struct.unpack(">H", got[3:5])[0]:
          got += c.recv(65536)
        n = struct.unpack(">H", got[3:5])[0]
        self.assertEqual(got[0], 22)
        if hs_len is None:
          hs_len = int.from_bytes(got[6:9], "big")
        records.append(n)
        got = got[5 + n:]
      c.close()
    finally:
      p.kill()
      p.wait()
      p.stdin.close()
      lst.close()
    self.assertGreaterEqual(len(records), 3, records)
    self.assertTrue(all(n <= 512 for n in records), records)

    rc, out = self.s_client(B, *args)
    self.assertEqual(rc, 0, out)
    self.assertEqual(h.cert_cn_from_openssl(out), B, out)
    self.sp.wait_connection(host=B, outcome="relayed")


class ReplayTest(h.ServerTestCase):
  """Raw captures and hand-made inputs against recording backends."""

  @classmethod
  def start_servers(cls):
    cls.captures = []
    cls.backends = {}
    d = h.clienthellos_dir()
    for meta_path in sorted(glob.glob(os.path.join(d, "*.json"))):
      with open(meta_path) as f:
        meta = json.load(f)
      with open(meta_path[:-5] + ".bin", "rb") as f:
        data = f.read()
      sni = meta["expected_sni"]
      cls.captures.append((os.path.basename(meta_path)[:-5], sni, data))
      if sni and sni not in cls.backends:
        cls.backends[sni] = h.Backend(
            cls.ws, os.path.join(cls.ws.host_dir(sni), "tls-socket"))
    h.dead_socket(os.path.join(cls.ws.host_dir("dead.example.test"), "tls-socket"))
    cls.segments = h.Backend(
        cls.ws, os.path.join(cls.ws.host_dir("segments.example.test"), "tls-socket"))
    cls.ok = h.Backend(cls.ws, os.path.join(cls.ws.host_dir(A), "tls-socket"))
    cls.sp = h.Sallyport(cls.ws, "tls")

  def test_every_real_capture_reaches_its_backend_byte_identical(self):
    self.assertGreaterEqual(len(self.captures), 18)
    for name, sni, data in self.captures:
      with self.subTest(capture=name):
        reply = h.exchange(self.sp.port, data)
        if sni is None:
          self.assertEqual(reply, h.alert_record(h.ALERT_UNRECOGNIZED_NAME))
          continue
        self.assertEqual(reply, b"")
        be = self.backends[sni]
        got = lambda: [bytes(c.received) for c in list(be.conns) if c.done.is_set()]
        try:
          h.wait_until(lambda: data in got(), what=f"{name} at its backend")
        except AssertionError:
          self.fail(f"{name}: backend got {[len(g) for g in got()]}, want {len(data)} bytes")
        rec = self.sp.wait_connection(host=sni, outcome="relayed",
                                      bytes_up=len(data))
        self.assertEqual(rec["bytes_down"], 0)

  def test_capture_in_tiny_tcp_segments_reaches_backend(self):
    data = next(c[2] for c in self.captures if c[0] == "chromium-2")
    data = data.replace(b"chromium.example.test", b"segments.example.test")
    be = self.segments
    before = len(be.conns)
    s = self.sp.connect()
    for i in range(0, len(data), 97):  # 20 writes: the parser reassembles
      s.sendall(data[i:i + 97])
      time.sleep(0.002)  # separate TCP segments, not synchronisation
    s.sendall(b"after the hello")
    s.shutdown(socket.SHUT_WR)
    self.assertEqual(h.read_to_eof(s), b"")
    s.close()
    conn = be.wait_conns(before + 1)[before]
    self.assertTrue(conn.done.wait(h.TIMEOUT))
    self.assertEqual(bytes(conn.received), data + b"after the hello")

  def test_bytes_after_the_hello_and_backend_reply_are_relayed(self):
    before = len(self.ok.conns)
    hello = h.client_hello(A)
    reply = h.exchange(self.sp.port, hello + b"\x17\x03\x03\x00\x01X")
    self.assertEqual(reply, b"")
    conn = self.ok.wait_conns(before + 1)[before]
    self.assertTrue(conn.done.wait(h.TIMEOUT))
    self.assertEqual(bytes(conn.received), hello + b"\x17\x03\x03\x00\x01X")

  def test_sni_in_the_third_record_routes(self):
    # a 1400-byte padding extension ahead of server_name, cut at 512 bytes:
    # the name lies in the third record (peers have routed these to a default)
    pad = struct.pack(">HH", 21, 1400) + b"\x00" * 1400
    hello = h.client_hello("segments.example.test", before=pad)
    data = h.fragment(hello, 512)
    self.assertGreater(data.index(b"segments.example.test"), 2 * (512 + 5))
    before = len(self.segments.conns)
    self.assertEqual(h.exchange(self.sp.port, data), b"")
    conn = self.segments.wait_conns(before + 1)[before]
    self.assertTrue(conn.done.wait(h.TIMEOUT))
    self.assertEqual(bytes(conn.received), data)

  def test_unknown_host_gets_unrecognized_name(self):
    reply = h.exchange(self.sp.port, h.client_hello("nobody-here.example.test"))
    self.assertEqual(reply, h.alert_record(h.ALERT_UNRECOGNIZED_NAME))
    rec = self.sp.wait_connection(host="nobody-here.example.test")
    self.assertEqual(rec["outcome"], "no-route")
    self.assertEqual(rec["alert"], 112)

  def test_ip_literal_sni_gets_unrecognized_name(self):
    reply = h.exchange(self.sp.port, h.client_hello("127.0.0.1"))
    self.assertEqual(reply, h.alert_record(h.ALERT_UNRECOGNIZED_NAME))

  def test_malformed_records_get_the_documented_alert(self):
    hello = h.client_hello(A)
    cases = {
        # application data first: unexpected_message
        "not handshake": (b"\x17\x03\x03\x00\x05hello", 10),
        # record length above 2^14: record_overflow
        "overflow": (b"\x16\x03\x01\x40\x01" + b"\x00" * 64, 22),
        # zero-length record: decode_error
        "empty record": (b"\x16\x03\x01\x00\x00", 50),
        # record major version 4: protocol_version
        "bad version": (b"\x16\x04\x01" + hello[3:], 70),
        # a ServerHello (type 2) where the ClientHello belongs
        "not clienthello": (hello[:5] + b"\x02" + hello[6:], 10),
        # two bytes after the extensions block: decode_error
        "bad body": (trailing_bytes(hello, b"\x00\x00"), 50),
        # an unknown content type, high bit set: unexpected_message (RFC 8446 §5)
        "type 255": (b"\xff\x03\x03\x00\x05hello", 10),
        # an SSLv2-compatible CLIENT-HELLO: protocol_version
        "sslv2 hello": (b"\x80\x2e\x01\x03\x01\x00\x15\x00\x00\x00\x10" + b"\x00" * 37, 70),
        # ALPN with an empty protocol list (RFC 7301 §3.1): decode_error
        "empty alpn list": (h.client_hello(A, extensions=b"\x00\x10\x00\x02\x00\x00"), 50),
        # ALPN with a zero-length protocol name: decode_error
        "empty alpn name": (h.client_hello(A, extensions=b"\x00\x10\x00\x04\x00\x02\x00\x00"), 50),
    }
    for what, (data, alert) in cases.items():
      with self.subTest(case=what):
        self.assertEqual(h.exchange(self.sp.port, data), h.alert_record(alert))

  def test_backend_without_listener_gets_internal_error(self):
    reply = h.exchange(self.sp.port, h.client_hello("dead.example.test"))
    self.assertEqual(reply, h.alert_record(h.ALERT_INTERNAL_ERROR))
    rec = self.sp.wait_connection(host="dead.example.test")
    self.assertEqual(rec["outcome"], "backend-down")
    self.assertIn("Connection refused", rec["detail"])


class TimeoutsTest(unittest.TestCase):

  def test_handshake_timeout_closes_without_alert(self):
    ws = h.Workspace()
    try:
      be = h.Backend(ws, os.path.join(ws.host_dir(A), "tls-socket"))
      sp = h.Sallyport(ws, "tls", "--handshake-timeout=1s")
      s = sp.connect()
      s.sendall(h.client_hello(A)[:40])  # part of the hello, then silence
      self.assertEqual(h.read_to_eof(s), b"")
      s.close()
      rec = sp.wait_connection()
      self.assertEqual(rec["outcome"], "handshake-timeout")
      self.assertNotIn("alert", rec)
      self.assertEqual(be.conns, [])
      self.assertEqual(sp.stop(), 0)
    finally:
      ws.close()

  def test_idle_relay_is_closed_after_idle_timeout(self):
    ws = h.Workspace()
    try:
      be = h.Backend(ws, os.path.join(ws.host_dir(A), "tls-socket"))
      sp = h.Sallyport(ws, "tls", "--idle-timeout=1s")
      s = sp.connect()
      hello = h.client_hello(A)
      s.sendall(hello)  # routed; then neither side says anything
      self.assertEqual(h.read_to_eof(s), b"")
      s.close()
      rec = sp.wait_connection()
      self.assertEqual(rec["outcome"], "idle-timeout")
      conn = be.wait_conns(1)[0]
      self.assertTrue(conn.done.wait(h.TIMEOUT))  # the backend saw the close too
      self.assertEqual(bytes(conn.received), hello)
      self.assertEqual(sp.stop(), 0)
    finally:
      ws.close()


if __name__ == "__main__":
  unittest.main()
