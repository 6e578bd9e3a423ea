# SPDX-License-Identifier: Apache-2.0
"""The relay end to end (proxy/relay_process.h): every routed connection
leaves its child once the replay is written and lives in one confined
process, sallyport-relay, that splices its bytes. As /proc shows it: two
filters (the parent's and its own), the unprivileged user, the chroot, the
private network namespace, and only /dev/null, its channel, its epoll set,
sockets and pipes: no listener, no directory. Held connections cost no
process. kill -9 of the relay closes and logs exactly the connections it
held and the service recovers by itself. A compromised child (the test hook,
proxy/test_hooks.h) that says to the route broker what a child never says
(descriptors, a forged name, a second request, junk, a hand-off it was never
routed for), or tries to make a socket itself, is refused or killed, logged,
reaches no backend, and harms no other connection."""

import os
import signal
import socket
import time
import unittest

import harness as h

NAME = "app.example.test"
EVIL = {
    # name: (the outcome of its connection line, what the security event says)
    "fds.evil.test": ("internal-error", "sent descriptors"),
    "forged.evil.test": ("internal-error", "name its parsers cannot have made"),
    "twice.evil.test": ("internal-error", "asked for a second route"),
    "garbage.evil.test": ("internal-error", "sent a malformed message"),
    "unrouted.evil.test": ("internal-error", "hand-off without a route"),
    "connect.evil.test": ("no-report", "child killed by SIGSYS"),
}
# What forged.evil.test asks for, in canonical form: a host that exists.
FORGED_TARGET = "other.test"


def echo(c):
  """Echoes everything after the request head (which it reads first)."""
  while b"\r\n\r\n" not in c.received:
    b = c.sock.recv(1 << 16)
    if not b:
      return
    c.received += b
  c.sock.sendall(b"ready\n")
  while True:
    b = c.sock.recv(1 << 16)
    if not b:
      break
    c.sock.sendall(b)
  c.sock.shutdown(socket.SHUT_WR)


def socket_inode(link):
  return link[len("socket:["):-1] if link.startswith("socket:[") else None


class RelayTest(unittest.TestCase):

  def setUp(self):
    self.ws = h.Workspace()
    self.addCleanup(self.ws.close)
    self.backends = {}
    for name in [NAME, FORGED_TARGET, *EVIL]:
      d = self.ws.host_dir(name)
      self.backends[name] = h.Backend(self.ws, os.path.join(d, "http-socket"), echo)
    self.sp = h.Sallyport(self.ws, "http", "--prefork=3", exe=h.testhooks_binary())

  def relay(self):
    pids = h.wait_until(lambda: self.sp.named("sallyport-relay"), what="a relay")
    self.assertEqual(len(pids), 1, pids)
    return pids[0]

  def hold(self, name=NAME):
    """A routed connection, held open (echo backend); returns its socket."""
    s = self.sp.connect()
    s.sendall(f"GET / HTTP/1.1\r\nHost: {name}\r\n\r\n".encode())
    self.assertEqual(h.read_line(s), b"ready\n")
    self.addCleanup(s.close)
    return s

  def ping(self, s, data=b"ping\n"):
    s.sendall(data)
    got = b""
    while len(got) < len(data):
      b = s.recv(1 << 16)
      self.assertTrue(b, "the connection closed")
      got += b
    self.assertEqual(got, data)

  def test_relay_is_confined_and_holds_only_connections(self):
    held = [self.hold() for _ in range(5)]
    relay = self.relay()
    h.assert_confined(self, relay, filters=2)  # the parent's and its own
    self.assertEqual(os.readlink(f"/proc/{relay}/root"), os.path.realpath(self.ws.hosts))
    self.assertNotEqual(os.readlink(f"/proc/{relay}/ns/net"), os.readlink("/proc/self/ns/net"))
    fds = h.proc_fds(relay)
    self.assertEqual({k: v for k, v in fds.items() if k <= 2},
                     {0: "/dev/null", 1: "/dev/null", 2: "/dev/null"})
    kinds = sorted(v.split(":")[0] for k, v in fds.items() if k > 2)
    self.assertEqual(set(kinds) - {"socket", "pipe", "anon_inode"}, set(), fds)
    self.assertEqual([v for v in fds.values() if v.startswith("anon_inode")],
                     ["anon_inode:[eventpoll]"], fds)
    # Its channel and two sockets per held connection; pipes only from the
    # pool (idle connections own none).
    self.assertGreaterEqual(kinds.count("socket"), 1 + 2 * len(held))
    # Not the listening socket: the parent's, and no other process has it.
    parent_sockets = {socket_inode(v) for v in h.proc_fds(self.sp.proc.pid).values()}
    relay_sockets = {socket_inode(v) for v in fds.values()} - {None}
    listen_inode = None
    with open("/proc/net/tcp") as f:
      for line in f.readlines()[1:]:
        cols = line.split()
        if cols[3] == "0A" and int(cols[1].split(":")[1], 16) == self.sp.port:
          listen_inode = cols[9]
    self.assertIsNotNone(listen_inode)
    self.assertIn(listen_inode, parent_sockets)
    self.assertNotIn(listen_inode, relay_sockets)
    # The held connections cost no process: no child holds a TCP socket.
    self.assertEqual(self.sp.children(), [relay])
    for s in held:
      self.ping(s)

  def test_a_backend_slow_to_accept_is_waited_for_and_blocks_nobody(self):
    # A backend whose listen queue is full: the route broker's non-blocking
    # connect answers EAGAIN; it retries (as a blocking connect would have
    # waited) while serving everyone else.
    name = "slow.test"
    path = os.path.join(self.ws.host_dir(name), "http-socket")
    tmp = self.ws.tmp_socket_path()
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(tmp)
    os.chmod(tmp, 0o666)
    lsock.listen(0)
    os.rename(tmp, path)
    self.addCleanup(lsock.close)
    clients = []
    for _ in range(4):
      c = self.sp.connect()
      c.sendall(f"GET / HTTP/1.1\r\nHost: {name}\r\n\r\n".encode())
      clients.append(c)
      self.addCleanup(c.close)
    time.sleep(1.0)  # nobody accepts meanwhile: the queue stays full
    self.ping(self.hold())  # another tenant is served all the while
    self.assertEqual(self.sp.events("connection", host=name), [])
    for _ in clients:
      conn, _ = lsock.accept()
      self.addCleanup(conn.close)
      conn.sendall(b"ready\n")
    for c in clients:
      self.assertEqual(h.read_line(c), b"ready\n")

  def test_connections_flow_both_ways_with_half_close(self):
    s = self.hold()
    self.ping(s, b"x" * 300000)
    s.shutdown(socket.SHUT_WR)  # the echo backend then ends its side too
    self.assertEqual(h.read_to_eof(s), b"")
    rec = self.sp.wait_connection(host=NAME)
    self.assertEqual(rec["outcome"], "relayed")
    self.assertEqual(rec["detail"], "both sides closed")
    self.assertEqual(rec["bytes_down"], len(b"ready\n") + 300000)
    self.assertEqual(rec["end"], "exit 0")

  def test_kill_relay_closes_and_logs_what_it_held_and_recovers(self):
    held = [self.hold() for _ in range(3)]
    relay = self.relay()
    os.kill(relay, signal.SIGKILL)
    for s in held:
      s.settimeout(h.TIMEOUT)
      try:
        self.assertEqual(h.read_to_eof(s), b"")
      except ConnectionResetError:
        pass  # closed either way: what matters is that it does not hang
    lost = self.sp.wait_event("connection", 3, outcome="relay-error")
    for rec in lost:
      self.assertEqual(rec["end"], "killed by SIGKILL")
      self.assertIn("relay killed by SIGKILL", rec["detail"])
    err = self.sp.wait_event("error", 1, connections_lost=3)[0]
    self.assertIn("relay killed by SIGKILL", err["what"])
    # A new relay, and service as before.
    h.wait_until(lambda: self.sp.named("sallyport-relay") and
                 self.sp.named("sallyport-relay") != [relay], what="a new relay")
    self.ping(self.hold())
    self.assertIsNone(self.sp.proc.poll())

  def test_two_relays_share_the_connections_and_fail_apart(self):
    sp = h.Sallyport(self.ws, "http", "--prefork=3", "--relays=2", exe=h.testhooks_binary())
    self.assertEqual(sp.events("started")[0]["relays"], 2)
    relays = h.wait_until(lambda: len(sp.named("sallyport-relay")) == 2 and
                          sp.named("sallyport-relay"), what="two relays")
    for pid in relays:
      h.assert_confined(self, pid, filters=2)

    def hold():
      s = sp.connect()
      s.sendall(f"GET / HTTP/1.1\r\nHost: {NAME}\r\n\r\n".encode())
      self.assertEqual(h.read_line(s), b"ready\n")
      self.addCleanup(s.close)
      return s

    def holder(s):
      """The relay holding socket s: the one with its peer's TCP socket."""
      inode = None
      port = s.getsockname()[1]
      with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
          cols = line.split()
          if int(cols[1].rsplit(":", 1)[1], 16) == sp.port and \
             int(cols[2].rsplit(":", 1)[1], 16) == port:
            inode = cols[9]
      return [p for p in relays if inode in {socket_inode(v) for v in h.proc_fds(p).values()}]

    held = [hold() for _ in range(6)]
    by_relay = {p: [s for s in held if holder(s) == [p]] for p in relays}
    # The fewest-held relay takes each: three each, every socket in one.
    self.assertEqual(sorted(len(v) for v in by_relay.values()), [3, 3], by_relay)
    victim, other = relays
    os.kill(victim, signal.SIGKILL)
    err = sp.wait_event("error", 1, connections_lost=3)[0]
    self.assertIn("relay killed by SIGKILL", err["what"])
    lost = sp.wait_event("connection", 3, outcome="relay-error")
    self.assertEqual(len(sp.events("connection", outcome="relay-error")), 3, lost)
    for s in by_relay[victim]:
      s.settimeout(h.TIMEOUT)
      try:
        self.assertEqual(h.read_to_eof(s), b"")
      except ConnectionResetError:
        pass
    # The other relay's connections never noticed.
    for s in by_relay[other]:
      self.ping(s)
    h.wait_until(lambda: len(sp.named("sallyport-relay")) == 2 and
                 victim not in sp.named("sallyport-relay"), what="a replacement relay")
    self.ping(hold())
    self.assertIsNone(sp.proc.poll())

  def test_compromised_child_is_refused_by_the_route_broker_and_harms_nobody(self):
    bystander = self.hold()
    relay = self.relay()
    for i, (name, (outcome, what)) in enumerate(EVIL.items()):
      with self.subTest(name=name):
        s = self.sp.connect()
        s.sendall(f"GET / HTTP/1.1\r\nHost: {name}\r\n\r\n".encode())
        try:
          self.assertEqual(h.read_to_eof(s), b"")  # closed, never relayed
        except ConnectionResetError:
          pass
        s.close()
        # Its line (the bystander has none yet: it is still held).
        rec = self.sp.wait_event("connection", i + 1)[-1]
        self.assertEqual(rec["outcome"], outcome, rec)
        ev = self.sp.wait_event("security", i + 1)[-1]
        self.assertIn(what, ev["what"], ev)
        self.ping(bystander)  # the relay still serves the connection it held
    # The forged name reached nothing, nor did any name but twice's first
    # (granted) request; the relay was never given any of them.
    self.assertEqual(self.backends[FORGED_TARGET].conns, [])
    for name in EVIL:
      if name != "twice.evil.test":
        self.assertEqual(self.backends[name].conns, [], name)
    self.assertEqual(len(self.sp.events("security")), len(EVIL))
    self.assertEqual(self.sp.named("sallyport-relay"), [relay], "the relay was restarted")
    self.ping(self.hold())


if __name__ == "__main__":
  unittest.main()
