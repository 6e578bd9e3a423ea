# SPDX-License-Identifier: Apache-2.0
"""Bulk transfer and half-close end to end: 1 GiB each way through the
proxy arrives byte-identical (sha256 on both sides, streamed), and each
side can still send after the other has shut down its write direction."""

import os
import threading
import socket
import unittest

import harness as h

NAME = "bulk.example.test"
GIB = 1 << 30


def read_head(c):
  """Reads up to the end of the request head; returns the bytes after it."""
  buf = b""
  while b"\r\n\r\n" not in buf:
    b = c.sock.recv(1 << 16)
    if not b:
      raise AssertionError("EOF inside the head")
    buf += b
  head, _, rest = buf.partition(b"\r\n\r\n")
  c.head = head
  return rest


def bulk_handler(c):
  c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
  c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
  rest = read_head(c)
  line = c.head.split(b"\r\n", 1)[0]
  if line.startswith(b"PUT /up/"):
    # sink: hash everything until the client's EOF, then answer
    import hashlib
    hh = hashlib.sha256(rest)
    n = len(rest)
    buf = bytearray(h.CHUNK)
    view = memoryview(buf)
    while True:
      k = c.sock.recv_into(view)
      if k == 0:
        break
      hh.update(view[:k])
      n += k
    c.sock.sendall(f"{n} {hh.hexdigest()}\n".encode())
  elif line.startswith(b"GET /down/"):
    size = int(line.split(b"/")[2].split(b" ")[0])
    c.sha = h.send_stream(c.sock, size)
    c.sock.shutdown(socket.SHUT_WR)
    # the client may still talk after our EOF
    h.Backend.record(c)
  elif line.startswith(b"GET /echo"):
    # What followed the head in the same read is data too (the proxy
    # replays the head and whatever the client sent with it at once).
    c.sock.sendall(rest)
    while True:  # echo until EOF, then say goodbye
      b = c.sock.recv(1 << 16)
      if not b:
        break
      c.sock.sendall(b)
    c.sock.sendall(b"bye after your EOF\n")


class BulkTest(h.ServerTestCase):

  @classmethod
  def start_servers(cls):
    cls.be = h.Backend(cls.ws, os.path.join(cls.ws.host_dir(NAME), "http-socket"),
                       bulk_handler)
    cls.sp = h.Sallyport(cls.ws, "http")

  def client(self):
    s = self.sp.connect(timeout=120)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    return s

  def test_1gib_upload_is_byte_identical_and_backend_answers_after_eof(self):
    s = self.client()
    head = f"PUT /up/ HTTP/1.1\r\nHost: {NAME}\r\n\r\n".encode()
    s.sendall(head)
    sha = h.send_stream(s, GIB)
    s.shutdown(socket.SHUT_WR)  # half-close: the answer must still come back
    reply = h.read_to_eof(s)
    s.close()
    self.assertEqual(reply, f"{GIB} {sha}\n".encode())
    rec = self.sp.wait_connection(bytes_up=len(head) + GIB, timeout=60)
    self.assertEqual(rec["outcome"], "relayed")
    self.assertEqual(rec["bytes_down"], len(reply))
    self.assertEqual(rec["end"], "exit 0")

  def test_1gib_download_is_byte_identical_and_client_talks_after_eof(self):
    before = len(self.be.conns)
    s = self.client()
    s.sendall(f"GET /down/{GIB} HTTP/1.1\r\nHost: {NAME}\r\n\r\n".encode())
    n, sha = h.recv_stream(s)  # until the backend's EOF
    self.assertEqual(n, GIB)
    s.sendall(b"thanks, after your EOF")
    s.shutdown(socket.SHUT_WR)
    self.assertEqual(h.read_to_eof(s), b"")
    s.close()
    conn = self.be.wait_conns(before + 1)[before]
    self.assertTrue(conn.done.wait(60))
    self.assertEqual(sha, conn.sha)
    self.assertEqual(bytes(conn.received), b"thanks, after your EOF")
    rec = self.sp.wait_connection(bytes_down=GIB, timeout=60)
    self.assertEqual(rec["outcome"], "relayed")

  def test_echo_half_close(self):
    s = self.client()
    s.sendall(f"GET /echo HTTP/1.1\r\nHost: {NAME}\r\n\r\n".encode())
    payload = os.urandom(3 << 20)
    got = []
    reader = threading.Thread(target=lambda: got.append(h.read_to_eof(s, limit=1 << 30)))
    reader.start()
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    reader.join(60)
    s.close()
    got = got[0]
    self.assertEqual(got, payload + b"bye after your EOF\n")


if __name__ == "__main__":
  unittest.main()
