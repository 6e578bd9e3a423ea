# SPDX-License-Identifier: Apache-2.0
"""The fork server end to end: the zygote (an exec of the binary as
sallyport-zygote) and the waiting children it forks (sallyport-child), as
/proc shows them; connections are served by children the parent reaps; the
zygote is restarted after kill -9 with no client error, and replaced after a
child crash, so the waiting children after it have a fresh address layout."""

import os
import signal
import unittest

import harness as h

NAME = "app.example.test"
CRASH = "sigsys.crash.test"   # proxy/test_hooks.h: the child dies by SIGSYS


cmdline = h.proc_cmdline
status = h.proc_status
fds = h.proc_fds


def base_mapping(pid):
  """The first mapping of the binary (static-pie: where ASLR put it)."""
  with open(f"/proc/{pid}/maps") as f:
    return f.readline().split()[0]


class ZygoteTest(unittest.TestCase):

  def setUp(self):
    self.ws = h.Workspace()
    self.addCleanup(self.ws.close)
    for name in (NAME, CRASH):
      d = self.ws.host_dir(name)
      h.Backend(self.ws, os.path.join(d, "http-socket"), h.Backend.http(f"{name}-ok"))
    self.sp = h.Sallyport(self.ws, "http", "--prefork=3", exe=h.testhooks_binary())

  def named(self, name):
    return self.sp.named(name)

  def zygote(self):
    return h.wait_until(lambda: self.named("sallyport-zygote"), what="a zygote")

  def waiting(self, count=3):
    return h.wait_until(lambda: len(self.named("sallyport-child")) >= count and
                        self.named("sallyport-child"), what=f"{count} waiting children")

  def get(self, name=NAME):
    raw = h.exchange(self.sp.port, f"GET / HTTP/1.1\r\nHost: {name}\r\n\r\n".encode())
    return raw

  def assert_confined(self, pid, filters):
    h.assert_confined(self, pid, filters)
    self.assertEqual(os.readlink(f"/proc/{pid}/root"), os.path.realpath(self.ws.hosts))
    # Not in the parent's network namespace (hosts' abstract sockets hidden).
    self.assertNotEqual(os.readlink(f"/proc/{pid}/ns/net"), os.readlink("/proc/self/ns/net"))

  def test_zygote_holds_only_its_channel_and_is_confined(self):
    # Once the pool is full the zygote is idle: its own filter is in (it
    # installs it before its first fork) and it holds no child's fds (it
    # holds them only between a fork and sending them on).
    self.waiting()
    z = self.zygote()
    self.assertEqual(len(z), 1)
    z = z[0]
    self.assert_confined(z, filters=2)  # the parent's and its own
    h.wait_until(lambda: len(fds(z)) == 4, what="the zygote idle")
    held = fds(z)
    self.assertEqual({k: v for k, v in held.items() if k <= 2},
                     {0: "/dev/null", 1: "/dev/null", 2: "/dev/null"})
    rest = {k: v for k, v in held.items() if k > 2}
    self.assertEqual(list(rest), [3], f"the zygote holds more than its channel: {held}")
    self.assertTrue(rest[3].startswith("socket:["), rest)

  def test_waiting_child_holds_no_client_and_is_confined(self):
    for pid in self.waiting():
      self.assert_confined(pid, filters=3)  # parent's, zygote's, the child filter
      held = fds(pid)
      above = sorted(v.split(":")[0] for k, v in held.items() if k > 2)
      # Its hand-off channel and its report channel.
      self.assertEqual(above, ["socket", "socket"], f"waiting child {pid}: {held}")
      self.assertNotIn(pid, self.sp.children(), "a waiting child holds a TCP socket")

  def test_children_are_the_parents_and_serve(self):
    for _ in range(5):
      self.assertIn(b"app.example.test-ok", self.get())
    recs = self.sp.wait_event("connection", 5)
    self.assertTrue(all(r["outcome"] == "relayed" for r in recs), recs)
    for pid in self.waiting():
      with open(f"/proc/{pid}/stat") as f:
        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
      self.assertEqual(ppid, self.sp.proc.pid)

  def test_killed_zygote_is_restarted_and_nothing_fails(self):
    self.waiting()  # past its set-up (a kill during set-up is a failed start)
    old = self.zygote()[0]
    os.kill(old, signal.SIGKILL)
    self.sp.wait_for(lambda r: r.get("event") == "error" and
                     r.get("what") == "zygote killed by SIGKILL", what="the zygote's death logged")
    new = h.wait_until(lambda: [p for p in self.named("sallyport-zygote") if p != old],
                       what="a new zygote")
    self.assertNotEqual(new[0], old)
    # Waiting children of the old zygote serve on; new ones come from the new.
    for _ in range(8):
      self.assertIn(b"app.example.test-ok", self.get())
    self.assertEqual(self.sp.wait_event("zygote", 2)[1]["generation"], 2)
    self.assertIsNone(self.sp.proc.poll())

  def test_child_crash_replaces_the_zygote_and_the_layout(self):
    old_zygote = self.zygote()[0]
    before = {p: base_mapping(p) for p in self.waiting()}
    self.assertEqual(len(set(before.values())), 1, "waiting children share their zygote's layout")
    self.assertEqual(self.get(CRASH), b"")  # the child dies of SIGSYS
    self.sp.wait_event("security", 1)
    self.sp.wait_for(lambda r: r.get("event") == "zygote" and
                     "killed by SIGSYS" in r.get("what", ""), what="the zygote replaced")
    h.wait_until(lambda: not (set(self.named("sallyport-child")) & set(before)),
                 what="the old waiting children to be sent away")
    after = {p: base_mapping(p) for p in self.waiting()}
    new_zygote = self.zygote()
    self.assertNotIn(old_zygote, new_zygote)
    self.assertEqual(len(set(after.values())), 1)
    self.assertNotEqual(set(after.values()), set(before.values()),
                        "the new zygote's children have the old layout")
    self.assertIn(b"app.example.test-ok", self.get())


if __name__ == "__main__":
  unittest.main()
