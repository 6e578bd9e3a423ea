# SPDX-License-Identifier: Apache-2.0
"""Which child deaths are crashes, and the global crash budget, end to end.

A child that dies of a fault (a real seccomp kill or segfault, made on demand
by the test hook of //proxy:sallyport_testhooks) is a security event and
counts toward its source's throttle and the global crash budget; one stopped
by SIGTERM (an operator's pkill, a drain) is neither. Crashes from many
sources together beyond --max-crashes-per-minute pause accepting for
--crash-pause, loudly, and the connections that waited meanwhile are served
afterwards. The installed binary has no hook: the hook's names route like
any other name."""

import os
import signal
import socket
import unittest

import harness as h

NAME = "app.example.test"
CRASH = "sigsys.crash.test"
SEGV = "segv.crash.test"
LATE = "late.crash.test"  # dies of SIGSYS after reporting its hand-off


def serve_hosts(ws):
  for name in (NAME, CRASH, SEGV, LATE):
    d = ws.host_dir(name)
    h.Backend(ws, os.path.join(d, "tls-socket"), h.Backend.greet(f"{name}-ok"))


def new_child(sp, known):
  found = h.wait_until(lambda: set(sp.children()) - known, what="a new child")
  return found.pop()


class SignalClassTest(unittest.TestCase):

  def test_sigterm_is_no_crash_but_a_fault_is(self):
    ws = h.Workspace()
    try:
      serve_hosts(ws)
      sp = h.Sallyport(ws, "tls", "--handshake-timeout=60s", exe=h.testhooks_binary())
      hello = h.client_hello(NAME)
      # Three children stopped by SIGTERM from outside: logged with how
      # they ended, but no security event, and the source is not throttled.
      for i in range(3):
        known = set(sp.children())
        s = h.connect(sp.port, source="127.0.0.5")
        s.sendall(hello[:20])
        pid = new_child(sp, known)
        os.kill(pid, signal.SIGTERM)
        self.assertEqual(h.read_to_eof(s), b"")
        client = "127.0.0.5:%d" % s.getsockname()[1]
        s.close()
        self.assertEqual(sp.wait_connection(client=client)["end"], "killed by SIGTERM")
      self.assertEqual(sp.events("security"), [])
      self.assertEqual(h.exchange(sp.port, hello, source="127.0.0.5"),
                       f"{NAME}-ok\n".encode())
      # A real fault: the hook makes the child call a syscall its filter
      # forbids, and the kernel kills it with SIGSYS.
      reply = h.exchange(sp.port, h.client_hello(CRASH), source="127.0.0.6")
      self.assertEqual(reply, b"")
      rec = sp.wait_event("security", 1)[0]
      self.assertEqual((rec["signal"], rec["what"]), (31, "child killed by SIGSYS"))
      self.assertTrue(rec["client"].startswith("127.0.0.6:"))
      conn = sp.wait_connection(client=rec["client"])
      self.assertEqual(conn["end"], "killed by SIGSYS")
      self.assertEqual(conn["outcome"], "no-report")
      self.assertEqual(sp.stop(), 0)
    finally:
      ws.close()


class LateCrashTest(unittest.TestCase):

  def test_a_child_that_dies_after_its_hand_off_is_a_crash_and_the_connection_lives(self):
    # The relay takes a connection when the child reports its hand-off (the
    # replay is written by then); the child's death after that is a
    # security event and throttles its client, and the connection, already
    # relayed, goes on: its line says how the child ended.
    ws = h.Workspace()
    try:
      serve_hosts(ws)
      sp = h.Sallyport(ws, "tls", exe=h.testhooks_binary())
      s = h.connect(sp.port, source="127.0.0.7")
      s.sendall(h.client_hello(LATE))
      self.assertEqual(h.read_line(s), f"{LATE}-ok\n".encode())
      rec = sp.wait_event("security", 1)[0]
      self.assertEqual((rec["signal"], rec["what"]), (31, "child killed by SIGSYS"))
      self.assertEqual(rec["client"], "127.0.0.7:%d" % s.getsockname()[1])
      s.sendall(b"still relayed\n")  # the greeting backend reads until EOF
      s.shutdown(socket.SHUT_WR)
      self.assertEqual(h.read_to_eof(s), b"")
      conn = sp.wait_connection(client=rec["client"])
      self.assertEqual((conn["outcome"], conn["end"]), ("relayed", "killed by SIGSYS"))
      self.assertEqual(conn["bytes_up"], len(h.client_hello(LATE)) + len(b"still relayed\n"))
      s.close()
      self.assertEqual(sp.stop(), 0)
    finally:
      ws.close()


class CrashBudgetTest(unittest.TestCase):

  def test_crashes_from_many_sources_pause_accepting_then_serve_the_backlog(self):
    ws = h.Workspace()
    waiting = None
    try:
      serve_hosts(ws)
      sp = h.Sallyport(ws, "tls", "--max-crashes-per-minute=3", "--crash-pause=3s",
                       exe=h.testhooks_binary())
      # four crashes from four sources: no source reaches its own throttle
      # (3), but together they exceed the budget of 3 a minute
      for i in range(4):
        src = f"127.0.0.{20 + i}"
        self.assertEqual(h.exchange(sp.port, h.client_hello(SEGV), source=src), b"")
        sp.wait_event("security", i + 1, signal=11)
      budget = sp.wait_event("security", 1, pause=3.0)[0]
      self.assertIn("global crash budget exhausted", budget["what"])
      self.assertEqual(budget["crashed_total"], 4)
      self.assertEqual([r for r in sp.events("security")
                        if "source throttled" in r.get("what", "")], [])
      # Accepting is paused: a new client's connection waits in the backlog
      # (the kernel completes the TCP handshake) and gets no answer yet ...
      waiting = h.connect(sp.port, source="127.0.0.30")
      waiting.sendall(h.client_hello(NAME))
      waiting.settimeout(0.5)
      with self.assertRaises(socket.timeout):
        waiting.recv(100)
      self.assertEqual(sp.events("connection", outcome="relayed"), [])
      # ... and is served, not lost, once the pause is over.
      sp.wait_event("resumed", 1, reason="crash budget pause over", timeout=10)
      waiting.settimeout(h.TIMEOUT)
      self.assertEqual(h.read_line(waiting), f"{NAME}-ok\n".encode())
      waiting.close()
      waiting = None
      self.assertEqual(sp.stop(), 0)
    finally:
      if waiting is not None:
        waiting.close()
      ws.close()


class ProductionBinaryTest(h.ServerTestCase):

  @classmethod
  def start_servers(cls):
    serve_hosts(cls.ws)
    cls.sp = h.Sallyport(cls.ws, "tls")  # //proxy:sallyport, no hook

  def test_hook_names_route_normally(self):
    for name in (CRASH, SEGV):
      self.assertEqual(h.exchange(self.sp.port, h.client_hello(name)),
                       f"{name}-ok\n".encode())
      self.sp.wait_connection(host=name, outcome="relayed")
    self.assertEqual(self.sp.events("security"), [])


if __name__ == "__main__":
  unittest.main()
