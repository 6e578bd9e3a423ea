# SPDX-License-Identifier: Apache-2.0
"""Resource exhaustion end to end: with its fd limit or its process limit
squeezed (prlimit), sallyport answers the connections it cannot serve with
503, logs a `pause`, does not crash or spin, and serves again by itself once
the resources come back."""

import os
import time
import unittest

import harness as h

NAME = "app.example.test"
# A user of its own, so the process count RLIMIT_NPROC sees is not disturbed
# by the other tests' children (which run as nobody, in parallel).
USER = "games"


def cpu_seconds(pid):
  with open(f"/proc/{pid}/stat") as f:
    fields = f.read().rsplit(")", 1)[1].split()
  return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def processes_of(user):
  uid = h.uid_of(user)
  pids = []
  for d in os.listdir("/proc"):
    if d.isdigit():
      try:
        if os.stat(f"/proc/{d}").st_uid == uid:
          pids.append(int(d))
      except OSError:
        pass
  return pids


def get(port):
  raw = h.exchange(port, f"GET /x HTTP/1.1\r\nHost: {NAME}\r\n\r\n".encode())
  return h.parse_http_response(raw)


class ResourcesTest(unittest.TestCase):

  def start(self, *limits):
    # Processes of USER left over from an earlier test would count against
    # RLIMIT_NPROC.
    h.wait_until(lambda: not processes_of(USER), what=f"no processes of {USER}")
    self.ws = h.Workspace()
    self.addCleanup(self.ws.close)
    d = self.ws.host_dir(NAME)
    self.be = h.Backend(self.ws, os.path.join(d, "http-socket"), h.Backend.http("app"))
    # prlimit(1) sets the limits on itself and execs sallyport (same pid);
    # changing a locked-down process's limits from outside is refused.
    self.sp = h.Sallyport(self.ws, "http", "--handshake-timeout=60s",
                          "--max-per-ip=1000", user=USER,
                          wrapper=["prlimit", *limits, "--"])
    self.pid = self.sp.proc.pid
    self.assertEqual(get(self.sp.port)[0], 200)
    # That request's child must be gone (and reaped) before the squeeze.
    h.wait_until(lambda: not self.sp.children(), what="the first child to exit")

  def assert_not_spinning(self):
    before = cpu_seconds(self.pid)
    time.sleep(1.0)
    used = cpu_seconds(self.pid) - before
    self.assertLess(used, 0.5, "the parent spins while out of resources")

  def hold_until_refused(self, limit):
    """Opens silent connections until one is answered (refused); returns
    (the silent ones that were accepted and are held, the answer)."""
    held = []
    self.addCleanup(lambda: [s.close() for s in held])
    for _ in range(limit):
      s = self.sp.connect()
      s.settimeout(0.3)
      try:
        answer = s.recv(4096)
      except TimeoutError:
        held.append(s)  # served by a child that waits for our request
        continue
      s.close()
      return held, answer
    self.fail(f"no connection refused after {limit}")

  def recover(self, held):
    for s in held:
      s.close()
    h.wait_until(lambda: not self.sp.children(), what="the held children to exit")
    self.assertEqual(get(self.sp.port)[0], 200)

  def test_fd_exhaustion_refuses_then_recovers(self):
    # Each held connection keeps one report-pipe fd open in the parent, so
    # some tens of them exhaust 64 fds.
    self.start("--nofile=64:64")
    held, answer = self.hold_until_refused(limit=80)
    self.assertGreaterEqual(len(held), 10)
    self.assertEqual(h.parse_http_response(answer)[0], 503)
    pause = self.sp.wait_event("pause")[0]
    self.assertIn("Too many open files", pause["reason"])
    self.assertIsNone(self.sp.proc.poll(), "the parent died")
    self.assert_not_spinning()
    self.recover(held)

  def test_fork_failure_refuses_then_recovers(self):
    # The parent, its zygote (the fork server) and the relay (both inherit
    # the limit) are three processes of USER; allow exactly one child.
    # (RLIMIT_NPROC is not enforced for root: it bites once the parent has
    # dropped to USER.)
    self.start("--nproc=4:4")
    held, answer = self.hold_until_refused(limit=5)
    self.assertEqual(len(held), 1)
    self.assertEqual(h.parse_http_response(answer)[0], 503)
    refused = self.sp.wait_event("refused")[0]
    self.assertIn("fork", refused["reason"])
    pause = self.sp.wait_event("pause")[0]
    self.assertIn("fork", pause["reason"])
    self.assertIsNone(self.sp.proc.poll(), "the parent died")
    self.assert_not_spinning()
    self.recover(held)


if __name__ == "__main__":
  unittest.main()
