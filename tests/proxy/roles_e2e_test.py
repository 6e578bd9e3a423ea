# SPDX-License-Identifier: Apache-2.0
"""The two roles the other /proc tests leave out (zygote_e2e_test has the
zygote and the waiting child, relay_e2e_test the relay): the parent and a
working child, as /proc shows them while sallyport runs.

The parent: one filter, the unprivileged user, chrooted into hosts/, out of
the starting network namespace, and exactly these descriptors: its log
(stderr), the one listening socket, the binary it re-executes helpers from,
/dev/null for their stdio, its signal pipe, one epoll set, and Unix sockets
only (the zygote's and the relay's channels, two per waiting child): no
directory, no client's socket once a connection is handed on.

A working child (one that has taken a connection and is reading its head):
three filters (the parent's, the zygote's, its own), the same user, root
and namespace, and exactly one TCP socket, the client it serves, beside its
report channel; its hand-off channel is closed (it can never take a second
connection), and it holds no listener, pipe, epoll set or directory."""

import os
import socket
import stat
import unittest

import harness as h

NAME = "app.example.test"
PREFORK = 3


def inode(link):
  return link[len("socket:["):-1] if link.startswith("socket:[") else None


def tcp_table():
  """{inode: (local port, remote port, state)} of this namespace's TCP sockets."""
  out = {}
  for path in ("/proc/net/tcp", "/proc/net/tcp6"):
    with open(path) as f:
      for line in f.readlines()[1:]:
        cols = line.split()
        out[cols[9]] = (int(cols[1].rsplit(":", 1)[1], 16),
                        int(cols[2].rsplit(":", 1)[1], 16), cols[3])
  return out


def unix_inodes(pid):
  """Inodes of the Unix sockets in `pid`'s network namespace."""
  with open(f"/proc/{pid}/net/unix") as f:
    return {line.split()[6] for line in f.readlines()[1:]}


def classify(pid):
  """Each descriptor of `pid` as one word: tcp:<inode>, unix, pipe:<inode>,
  epoll, null, dir, file:<path>, or other:<link>."""
  tcp, unix = tcp_table(), unix_inodes(pid)
  out = {}
  for fd, link in h.proc_fds(pid).items():
    st = os.stat(f"/proc/{pid}/fd/{fd}")
    if stat.S_ISDIR(st.st_mode):
      out[fd] = "dir"
    elif link == "/dev/null":
      out[fd] = "null"
    elif inode(link) in tcp:
      out[fd] = "tcp:" + inode(link)
    elif inode(link) in unix:
      out[fd] = "unix"
    elif link.startswith("pipe:["):
      out[fd] = "pipe:" + link[6:-1]
    elif link == "anon_inode:[eventpoll]":
      out[fd] = "epoll"
    elif stat.S_ISREG(st.st_mode):
      out[fd] = "file:" + link
    else:
      out[fd] = "other:" + link
  return out


class RolesTest(unittest.TestCase):

  proto = "http"

  def setUp(self):
    self.ws = h.Workspace()
    self.addCleanup(self.ws.close)
    d = self.ws.host_dir(NAME)
    if self.proto == "http":
      h.Backend(self.ws, os.path.join(d, "http-socket"), h.Backend.http("served"))
    else:
      h.banner_backend(self.ws, d, "served")
    self.sp = h.Sallyport(self.ws, self.proto, f"--prefork={PREFORK}")

  def waiting(self, count=PREFORK):
    return h.wait_until(lambda: len(self.sp.named("sallyport-child")) >= count and
                        self.sp.named("sallyport-child"), what=f"{count} waiting children")

  def assert_role(self, pid, filters):
    h.assert_confined(self, pid, filters)
    self.assertEqual(os.readlink(f"/proc/{pid}/root"), os.path.realpath(self.ws.hosts))
    self.assertNotEqual(os.readlink(f"/proc/{pid}/ns/net"), os.readlink("/proc/self/ns/net"))

  def partial_head(self):
    """Bytes that start a valid head but do not finish it."""
    if self.proto == "http":
      return f"GET / HTTP/1.1\r\nHost: {NAME}\r\nUser-Ag".encode()
    return h.client_hello(NAME)[:40]

  def rest_of_head(self):
    if self.proto == "http":
      return b"ent: t\r\n\r\n"
    return h.client_hello(NAME)[40:]

  def test_parent_holds_its_listener_helpers_and_channels_only(self):
    parent = self.sp.proc.pid
    waiting = self.waiting()
    self.assert_role(parent, filters=1)
    # Idle: every waiting child's two channels and nothing else in flight.
    kinds = h.wait_until(
        lambda: (lambda k: list(k.values()).count("unix") == 2 + 2 * len(waiting) and k)(
            classify(parent)), what="the parent idle")
    listeners = [k for k in kinds.values() if k.startswith("tcp:")]
    self.assertEqual(len(listeners), 1, kinds)
    port, _, state = tcp_table()[listeners[0][4:]]
    self.assertEqual((port, state), (self.sp.port, "0A"), "the parent's TCP socket is not the listener")
    self.assertEqual(kinds[2][:5], "pipe:", "fd 2 is the log")
    pipes = [k for fd, k in kinds.items() if k.startswith("pipe:") and fd != 2]
    self.assertEqual(len(pipes), 2, f"the signal pipe's two ends: {kinds}")
    self.assertEqual(len(set(pipes)), 1, f"the two ends of one pipe: {kinds}")
    files = [k[5:] for k in kinds.values() if k.startswith("file:")]
    self.assertEqual(len(files), 1, kinds)
    self.assertTrue(os.path.samefile(files[0], h.binary()), f"not the binary: {files}")
    self.assertEqual(list(kinds.values()).count("epoll"), 1, kinds)
    self.assertNotIn("dir", kinds.values(), "the parent holds a directory")
    odd = {fd: k for fd, k in kinds.items()
           if k not in ("unix", "epoll", "null") and not k.startswith(("tcp:", "pipe:", "file:"))}
    self.assertEqual(odd, {}, kinds)

    # A relayed connection held open: its client socket leaves the parent
    # (the relay holds it); the parent's TCP socket is still the listener alone.
    s = self.sp.connect()
    self.addCleanup(s.close)
    s.sendall(self.partial_head() + self.rest_of_head())
    self.assertIn(b"served", s.recv(1 << 16))
    h.wait_until(lambda: [k for k in classify(parent).values() if k.startswith("tcp:")] ==
                 listeners, what="the parent to hold the listener only")

  def test_working_child_holds_exactly_its_client_and_report_channel(self):
    before = set(self.waiting())
    s = self.sp.connect()
    self.addCleanup(s.close)
    s.sendall(self.partial_head())
    working = h.wait_until(lambda: [p for p in self.sp.children() if p in before],
                           what="a waiting child to take the connection")
    self.assertEqual(len(working), 1, working)
    pid = working[0]
    self.assertEqual(h.proc_cmdline(pid), "sallyport-child")
    self.assert_role(pid, filters=3)
    kinds = classify(pid)
    self.assertEqual({fd: k for fd, k in kinds.items() if fd <= 2},
                     {0: "null", 1: "null", 2: "null"})
    above = sorted(k if not k.startswith("tcp:") else "tcp" for fd, k in kinds.items() if fd > 2)
    self.assertEqual(above, ["tcp", "unix"], f"working child {pid}: {kinds}")
    # The TCP socket is this client's: its remote port is our local port.
    tcp = [k[4:] for k in kinds.values() if k.startswith("tcp:")][0]
    local, remote, _ = tcp_table()[tcp]
    self.assertEqual((local, remote), (self.sp.port, s.getsockname()[1]))
    # It finishes the connection it holds.
    s.sendall(self.rest_of_head())
    self.assertIn(b"served", s.recv(1 << 16))


class TlsRolesTest(RolesTest):
  proto = "tls"


if __name__ == "__main__":
  unittest.main()
