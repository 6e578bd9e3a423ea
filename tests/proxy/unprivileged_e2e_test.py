# SPDX-License-Identifier: Apache-2.0
"""sallyport started unprivileged (no --user, as the real user S = lp) in a
hosts/ shared by several users. In its user namespace only S is mapped: every
other uid, root included, reads as the overflow uid (65534), so owners other
than S cannot be told apart and every entry, socket or listener of theirs is
refused as unverifiable instead of being routed (X = daemon, Y = bin, and
nobody, whose real uid is the overflow uid itself). `sallyport check` run as
S predicts the same refusals from the real uids."""

import os
import socket
import subprocess
import unittest

import harness as h

OVERFLOW_UID = int(open("/proc/sys/kernel/overflowuid").read())
NOBODY = h.uid_of("nobody")

OWN = "own.test"                    # S's dir, sockets and backends: routed
X_NAME = "x.test"                   # X's dir, sockets and backends
MIS = "mis.test"                    # Y's symlink -> x.test
NOBODY_NAME = "nobody.test"         # nobody's dir, sockets and backends
NOBODY_ALIAS = "nobody-alias.test"  # nobody's symlink -> x.test
ROOT_SOCK = "rootsock.test"         # S's dir, root's listening socket
REFUSED = (X_NAME, MIS, NOBODY_NAME, NOBODY_ALIAS, ROOT_SOCK)


class UnprivilegedTest(h.ServerTestCase):

  @classmethod
  def start_servers(cls):
    cls.S = h.uid_of("lp")
    cls.X = h.uid_of("daemon")
    cls.Y = h.uid_of("bin")
    assert len({0, cls.S, cls.X, cls.Y, NOBODY}) == 5
    assert NOBODY == OVERFLOW_UID, "nobody is the overflow uid on Debian"
    ws = cls.ws
    os.chmod(ws.hosts, 0o755)  # root's; S needs only to search it
    for name, uid, banner in ((OWN, cls.S, "S"), (X_NAME, cls.X, "X"),
                              (NOBODY_NAME, NOBODY, "N")):
      d = ws.host_dir(name, uid=uid)
      for sock in ("tls-socket", "http-socket"):
        h.banner_backend(ws, d, banner, uid=uid, socket_name=sock)
    for name, uid in ((MIS, cls.Y), (NOBODY_ALIAS, NOBODY)):
      os.symlink(X_NAME, ws.path(name))
      os.lchown(ws.path(name), uid, uid)
    d = ws.host_dir(ROOT_SOCK, uid=cls.S)
    for sock in ("tls-socket", "http-socket"):
      h.Backend(ws, os.path.join(d, sock), h.Backend.greet("R"))
    cls.tls = h.Sallyport(ws, "tls", user=None, run_as_uid=cls.S)
    cls.http = h.Sallyport(ws, "http", user=None, run_as_uid=cls.S)

  def tls_answer(self, sni):
    """The banner that answered, or ('alert', code)."""
    reply = h.exchange(self.tls.port, h.client_hello(sni))
    if reply.endswith(b"\n") and len(reply) < 16:
      return reply.strip().decode()
    self.assertEqual(len(reply), 7, reply)
    self.assertEqual(reply[:6], h.alert_record(0)[:6])
    return ("alert", reply[6])

  def http_answer(self, host):
    """The banner that answered, or the HTTP status sallyport sent."""
    reply = h.exchange(self.http.port,
                       f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    if reply.endswith(b"\n") and len(reply) < 16:
      return reply.strip().decode()
    return h.parse_http_response(reply)[0]

  def assert_unverifiable(self, sp, name):
    rec = sp.wait_connection(host=name)
    self.assertEqual(rec["outcome"], "no-route", rec)
    self.assertIn("is not verifiable", rec["detail"])
    self.assertIn(f"uid {OVERFLOW_UID} is the overflow uid, which stands for every "
                  "uid not mapped", rec["detail"])
    self.assertIn("run as root with --user for a multi-tenant hosts/", rec["detail"])

  def test_runs_unprivileged_in_a_user_namespace_and_warns(self):
    for sp, proto in ((self.tls, "tls"), (self.http, "http")):
      started = sp.events("started")[0]
      self.assertIn("mode=unprivileged (user namespace)", started["sandbox"])
      self.assertIn(f"uid={self.S} ", started["sandbox"])
      # One warning, the record right after "started".
      i = sp.records.index(started)
      warning = sp.records[i + 1]
      self.assertEqual(warning["event"], "warning", sp.records[:i + 2])
      self.assertEqual(warning["proto"], proto)
      self.assertEqual(warning["mapped_uid"], self.S)
      self.assertEqual(warning["overflow_uid"], OVERFLOW_UID)
      self.assertIn(f"only uid {self.S} is mapped", warning["what"])
      self.assertIn("including root", warning["what"])
      self.assertEqual(len(sp.events("warning")), 1)

  def test_own_entries_are_routed(self):
    self.assertEqual(self.tls_answer(OWN), "S")
    self.assertEqual(self.http_answer(OWN), "S")
    self.assertEqual(self.tls.wait_connection(host=OWN)["outcome"], "relayed")

  def test_foreign_owners_are_refused_as_unverifiable(self):
    for name in REFUSED:
      with self.subTest(name=name):
        self.assertEqual(self.tls_answer(name), ("alert", h.ALERT_UNRECOGNIZED_NAME))
        self.assert_unverifiable(self.tls, name)
        self.assertEqual(self.http_answer(name), 404)
        self.assert_unverifiable(self.http, name)
    # The detail names the entry whose owner could not be verified.
    self.assertIn(f"owner of hosts/{MIS} is not verifiable",
                  self.tls.wait_connection(host=MIS)["detail"])
    self.assertIn(f"owner of socket hosts/{ROOT_SOCK}/tls-socket is not verifiable",
                  self.tls.wait_connection(host=ROOT_SOCK)["detail"])

  def test_check_as_the_same_user_predicts_the_refusals(self):
    r = subprocess.run([self.ws.world_binary(), "check", f"--hosts={self.ws.hosts}"],
                       capture_output=True, text=True, timeout=h.TIMEOUT,
                       **h.as_uid_kwargs(self.S))
    self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
    out = r.stdout
    self.assertIn(f"assumed: unprivileged (user namespace) as uid {self.S}", out)
    problems = out.split("\nproblems:\n", 1)[1].split("\n\n", 1)[0]
    for name in REFUSED:
      with self.subTest(name=name):
        line = next((l for l in problems.splitlines()
                     if l.startswith(f"  {name}: ")), "")
        self.assertIn("is not verifiable", line, problems)
        self.assertIn(f"only uid {self.S}", line)
        self.assertIn("run as root with --user", line)
    self.assertNotIn(f"  {OWN}: ", problems)
    self.assertIn(f"{OWN}/tls-socket", out.split("\nproblems:\n", 1)[0])

  def test_check_assume_root_is_the_view_of_a_root_started_proxy(self):
    # A tenant checking a hosts/ served by a root-started proxy: every owner
    # is verifiable there, so no entry is "not verifiable".
    r = subprocess.run([self.ws.world_binary(), "check", f"--hosts={self.ws.hosts}",
                        "--assume=root"],
                       capture_output=True, text=True, timeout=h.TIMEOUT,
                       **h.as_uid_kwargs(self.S))
    self.assertIn("assumed: root", r.stdout)
    self.assertNotIn("is not verifiable", r.stdout)
    r = subprocess.run([self.ws.world_binary(), "check", f"--hosts={self.ws.hosts}",
                        "--assume=bogus"],
                       capture_output=True, text=True, timeout=h.TIMEOUT,
                       **h.as_uid_kwargs(self.S))
    self.assertEqual(r.returncode, 2)
    self.assertIn("--assume=bogus: expected auto or root", r.stderr)


if __name__ == "__main__":
  unittest.main()
