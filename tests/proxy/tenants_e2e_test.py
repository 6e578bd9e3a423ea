# SPDX-License-Identifier: Apache-2.0
"""Two tenants as different uids (A = daemon, B = bin) in one sticky,
world-writable hosts directory: B cannot make traffic for A's hostname reach
B's backend, by a look-alike directory, by renaming, by symlinks, or by a
socket of B's behind A's name. Every client for A's name reaches A's backend
or is refused, never B's. Backends run as their tenant's uid (the proxy
checks the listener's SO_PEERCRED)."""

import errno
import json
import os
import socket
import unittest

import harness as h

A_NAME = "a.example.test"
B_NAME = "b.example.test"


class TenantsTest(h.ServerTestCase):

  hosts_mode = 0o1777

  @classmethod
  def start_servers(cls):
    cls.A = h.uid_of("daemon")
    cls.B = h.uid_of("bin")
    os.chmod(cls.ws.hosts, 0o1777)  # mkdtemp umask safety: set explicitly
    cls.a_dir = cls.ws.host_dir(A_NAME, uid=cls.A)
    h.banner_backend(cls.ws, cls.a_dir, "A", uid=cls.A)
    cls.b_dir = cls.ws.host_dir(B_NAME, uid=cls.B)
    h.banner_backend(cls.ws, cls.b_dir, "B", uid=cls.B)
    cls.sp = h.Sallyport(cls.ws, "tls")

  def who(self, sni):
    """'A' / 'B' (the banner that answered) or ('alert', code)."""
    reply = h.exchange(self.sp.port, h.client_hello(sni))
    if reply.endswith(b"\n") and len(reply) < 16:
      return reply.strip().decode()
    self.assertEqual(len(reply), 7, reply)
    self.assertEqual(reply[:6], h.alert_record(0)[:6])
    return ("alert", reply[6])

  def as_b(self, code, *args):
    return json.loads(h.run_as(self.B, code, self.ws.hosts, *args))

  def assert_a_is_a(self):
    for sni in (A_NAME, A_NAME.upper(), A_NAME + "."):
      self.assertEqual(self.who(sni), "A", sni)

  def test_baseline_each_tenant_reaches_its_own_backend(self):
    self.assertEqual(self.who(A_NAME), "A")
    self.assertEqual(self.who(B_NAME), "B")

  def test_a_lookalike_directory_of_b_does_not_capture_a(self):
    # B creates names that canonicalise to A's, each with B's backend.
    for variant in ("A.EXAMPLE.TEST", "a.example.test.", "A.example.test"):
      with self.subTest(variant=variant):
        self.as_b("import os,sys,json; os.mkdir(os.path.join(sys.argv[1], sys.argv[2]));"
                  "print(json.dumps(0))", variant)
        d = self.ws.path(variant)
        self.assertEqual(os.lstat(d).st_uid, self.B)
        h.banner_backend(self.ws, d, "B", uid=self.B)
        self.assert_a_is_a()

  def test_b_cannot_rename_or_remove_a_entry(self):
    code = r"""
import errno, json, os, sys
hosts = sys.argv[1]
a = os.path.join(hosts, "a.example.test")
b = os.path.join(hosts, "b.example.test")
def err(f, *args):
  try:
    f(*args)
    return 0
  except OSError as e:
    return errno.errorcode[e.errno]
print(json.dumps({
  "rename_away": err(os.rename, a, os.path.join(hosts, "stolen")),
  "rmdir": err(os.rmdir, a),
  "rename_b_over_a": err(os.rename, b, a),
  "unlink_socket": err(os.unlink, os.path.join(a, "tls-socket")),
  "create_in_a": err(os.mkdir, os.path.join(a, "x")),
}))
"""
    got = self.as_b(code)
    self.assertEqual(got["rename_away"], "EPERM")      # sticky bit
    self.assertEqual(got["rmdir"], "EPERM")            # sticky bit
    self.assertEqual(got["rename_b_over_a"], "EPERM")  # sticky bit, target is A's
    self.assertEqual(got["unlink_socket"], "EACCES")   # A's dir is 0755
    self.assertEqual(got["create_in_a"], "EACCES")
    self.assertTrue(os.path.isdir(self.a_dir))
    self.assert_a_is_a()
    self.assertEqual(self.who(B_NAME), "B")

  def test_b_alias_symlink_to_a_dir_is_refused_and_steals_nothing(self):
    self.as_b("import os,sys,json; os.symlink('a.example.test', os.path.join(sys.argv[1],"
              "'b-alias.example.test')); print(0)")
    self.assertEqual(os.lstat(self.ws.path("b-alias.example.test")).st_uid, self.B)
    self.assertEqual(self.who("b-alias.example.test"), ("alert", h.ALERT_UNRECOGNIZED_NAME))
    rec = self.sp.wait_connection(host="b-alias.example.test")
    self.assertEqual(rec["outcome"], "no-route")
    self.assert_a_is_a()

  def test_b_name_pointing_at_a_socket_is_refused(self):
    # (1) B's own tls-socket symlinked across to A's socket: not a plain name.
    d1 = self.ws.path("b1.example.test")
    self.as_b("import os,sys; d=os.path.join(sys.argv[1],'b1.example.test'); os.mkdir(d);"
              "os.symlink('../a.example.test/tls-socket', os.path.join(d,'tls-socket'));"
              "print(0)")
    self.assertEqual(self.who("b1.example.test"), ("alert", h.ALERT_UNRECOGNIZED_NAME))
    # (2) A's very socket inode inside B's directory (a hard link root made:
    #     protected_hardlinks stops B doing it): socket owner A != dir owner B.
    d2 = self.ws.host_dir("b2.example.test", uid=self.B)
    os.link(os.path.join(self.a_dir, "tls-socket"), os.path.join(d2, "a-sock"))
    os.symlink("a-sock", os.path.join(d2, "tls-socket"))
    os.lchown(os.path.join(d2, "tls-socket"), self.B, self.B)
    self.assertEqual(self.who("b2.example.test"), ("alert", h.ALERT_UNRECOGNIZED_NAME))
    rec = self.sp.wait_connection(host="b2.example.test")
    self.assertEqual(rec["outcome"], "no-route")
    self.assertIn(str(self.A), rec["detail"])  # names both uids
    self.assertIn(str(self.B), rec["detail"])
    self.assert_a_is_a()

  def test_b_socket_behind_a_name_is_refused(self):
    # B cannot even create a socket in A's directory.
    got = self.as_b(r"""
import errno, json, os, socket, sys
s = socket.socket(socket.AF_UNIX)
try:
  s.bind(os.path.join(sys.argv[1], "a.example.test", "evil"))
  print(json.dumps(0))
except OSError as e:
  print(json.dumps(errno.errorcode[e.errno]))
""")
    self.assertEqual(got, "EACCES")
    # A root-made host dir owned by A, left world-writable: B plants a
    # socket there. Its file owner is B: refused by the ownership rule.
    c = self.ws.host_dir("c.example.test", uid=self.A, mode=0o777)
    h.banner_backend(self.ws, c, "B", uid=self.B)
    self.assertEqual(os.lstat(os.path.join(c, "tls-socket")).st_uid, self.B)
    self.assertEqual(self.who("c.example.test"), ("alert", h.ALERT_UNRECOGNIZED_NAME))
    # Same, but the socket file is chowned to A (lstat passes): the listener
    # is still B's process, and SO_PEERCRED refuses it.
    d = self.ws.host_dir("d.example.test", uid=self.A)
    staging = self.ws.host_dir("d-staging", uid=self.B)
    h.banner_backend(self.ws, staging, "B", uid=self.B)
    os.chown(os.path.join(staging, "tls-socket"), self.A, self.A)
    os.rename(os.path.join(staging, "tls-socket"), os.path.join(d, "tls-socket"))
    self.assertEqual(self.who("d.example.test"), ("alert", h.ALERT_INTERNAL_ERROR))
    rec = self.sp.wait_connection(host="d.example.test")
    self.assertEqual(rec["outcome"], "backend-down")
    self.assertIn("Operation not permitted", rec["detail"])
    self.assert_a_is_a()


if __name__ == "__main__":
  unittest.main()
