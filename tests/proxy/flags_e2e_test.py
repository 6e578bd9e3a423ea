# SPDX-License-Identifier: Apache-2.0
"""The command line: --help names every flag, --version prints the version,
bad or unsafe invocations refuse with a clear message and a non-zero exit,
and the three ways of getting a listening socket work (or are named)."""

import os
import re
import socket
import subprocess
import unittest

import harness as h

FLAGS = ["hosts", "listen", "user", "max_connections", "max_per_ip", "rate_per_ip",
         "handshake_timeout", "idle_timeout", "drain_timeout", "log_format",
         "accept_proxy", "max_per_proxy", "rate_per_proxy", "max_crashes_per_minute",
         "crash_pause", "relays", "prefork"]


def run(*args, **kw):
  kw.setdefault("stdin", subprocess.DEVNULL)
  r = subprocess.run([h.binary(), *args], capture_output=True, text=True,
                     timeout=h.TIMEOUT, **kw)
  return r.returncode, r.stdout + r.stderr


class FlagsTest(unittest.TestCase):

  def setUp(self):
    self.ws = h.Workspace()

  def tearDown(self):
    self.ws.close()

  def test_help_mentions_every_flag(self):
    rc, out = run("--help")
    self.assertIn("tls|http", out)
    for f in FLAGS:
      self.assertRegex(out, "--" + f.replace("_", "[-_]") + r"\b", f)

  def test_version(self):
    rc, out = run("--version")
    self.assertEqual(rc, 0)
    self.assertRegex(out, r"^sallyport \d+\.\d+\.\d+\n$")

  def test_root_without_user_refuses(self):
    self.assertEqual(os.geteuid(), 0, "these tests run as root")
    port = h.free_port()
    rc, out = run("tls", f"--hosts={self.ws.hosts}", f"--listen=127.0.0.1:{port}")
    self.assertNotEqual(rc, 0)
    self.assertIn("--user", out)
    self.assertIn("root", out)
    rc, out = run("tls", f"--hosts={self.ws.hosts}", f"--listen=127.0.0.1:{port}",
                  "--user=root")
    self.assertNotEqual(rc, 0)
    self.assertIn("uid 0", out)

  def test_bad_values_refuse_clearly(self):
    base = ["tls", f"--hosts={self.ws.hosts}", "--user=nobody",
            f"--listen=127.0.0.1:{h.free_port()}"]
    for flag, words in (("--log-format=xml", ["--log-format=xml", "text or json"]),
                        ("--log_format=xml", ["text or json"]),
                        ("--max-per-ip=0", ["--max-per-ip", "positive"]),
                        ("--max-connections=-1", ["--max-connections", "positive"]),
                        ("--handshake-timeout=0s", ["--handshake-timeout", "positive"]),
                        ("--max-per-ip=lots", ["max_per_ip"]),
                        ("--max-per-proxy=-1", ["--max-per-proxy", "0 (no own limit) or positive"]),
                        ("--rate-per-proxy=-2", ["--rate-per-proxy"]),
                        ("--max-crashes-per-minute=0", ["--max-crashes-per-minute", "positive"]),
                        ("--crash-pause=0s", ["--crash-pause", "positive"]),
                        ("--relays=-1", ["--relays=-1", "0 (automatic) to 64"]),
                        ("--relays=65", ["--relays=65", "0 (automatic) to 64"]),
                        ("--no-such-flag=1", ["no_such_flag"])):
      with self.subTest(flag=flag):
        rc, out = run(*base, flag)
        self.assertNotEqual(rc, 0, out)
        for w in words:
          self.assertIn(w, out)
    rc, out = run("ftp", f"--hosts={self.ws.hosts}")
    self.assertNotEqual(rc, 0)
    self.assertIn("usage", out)
    rc, out = run("tls", "--hosts=/nonexistent/hosts", "--user=nobody")
    self.assertNotEqual(rc, 0)
    self.assertIn("/nonexistent/hosts", out)

  def test_relays_follow_the_descriptor_limit(self):
    # --relays=0 is the default, spelled out: the harness pins one relay
    # otherwise. Soft limit raised to the hard one; one relay holds (nofile - 128) / 2
    # connections, so 3000 under 2048 descriptors need ceil(3000 / 960) = 4.
    sp = h.Sallyport(self.ws, "http", "--max-connections=3000", "--relays=0",
                     wrapper=("prlimit", "--nofile=1024:2048", "--"))
    started = sp.events("started")[0]
    self.assertEqual((started["nofile"], started["relays"]), (2048, 4))
    h.wait_until(lambda: len(sp.named("sallyport-relay")) == 4, what="four relays")
    self.assertEqual(sp.events("warning"), [])
    # Told to use fewer than fit: started, and warned with the fix.
    sp2 = h.Sallyport(self.ws, "http", "--max-connections=3000", "--relays=1",
                      wrapper=("prlimit", "--nofile=2048:2048", "--"))
    self.assertEqual(sp2.events("started")[0]["relays"], 1)
    warn = sp2.wait_event("warning", 1)[0]["what"]
    for w in ("--max-connections=3000", "RLIMIT_NOFILE 2048", "960", "LimitNOFILE", "--relays"):
      self.assertIn(w, warn)

  def test_no_listening_socket_names_the_three_ways(self):
    rc, out = run("tls", f"--hosts={self.ws.hosts}", "--user=nobody")
    self.assertNotEqual(rc, 0)
    for way in ("LISTEN_FDS", "fd 0", "--listen"):
      self.assertIn(way, out)

  def test_listening_socket_on_fd0(self):
    h.Backend(self.ws, os.path.join(self.ws.host_dir("a.example.test"), "tls-socket"),
              h.Backend.greet("fd0"))
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(16)
    port = lst.getsockname()[1]
    sp = h.Sallyport(self.ws, "tls", listen=None, stdin=lst)
    lst.close()  # sallyport holds the only copy now
    started = sp.events("started")[0]
    self.assertIn("fd 0", started["listen"])
    self.assertEqual(h.exchange(port, h.client_hello("a.example.test")), b"fd0\n")
    self.assertEqual(sp.stop(), 0)

  def test_text_log_lines(self):
    h.Backend(self.ws, os.path.join(self.ws.host_dir("a.example.test"), "tls-socket"),
              h.Backend.greet("text"))
    sp = h.Sallyport(self.ws, "tls", log_format="text")
    self.assertEqual(h.exchange(sp.port, h.client_hello("a.example.test") + b"xyz"),
                     b"text\n")
    h.exchange(sp.port, h.client_hello("nope.example.test"))
    sp.wait_event("connection", 2)
    self.assertEqual(sp.stop(), 0)
    lines = sp.lines
    self.assertRegex(lines[0], r"^\S+Z started proto=")
    # One line per connection, in the order the children end (not the
    # order they were accepted): pick each by its host.
    conn = [l for l in lines if " connection " in l]
    self.assertEqual(len(conn), 2, lines)
    relayed = [l for l in conn if " host=a.example.test " in l]
    self.assertEqual(len(relayed), 1, conn)
    self.assertRegex(relayed[0], r" connection proto=\S+ client=\S+ host=\S*a\.example\.test\S* "
                     r"outcome=\S*relayed.* bytes_up=\d+ bytes_down=5 .*end=")
    rec = sp.events("connection", host="a.example.test")[0]
    self.assertEqual((rec["host"], rec["outcome"], rec["end"]),
                     ("a.example.test", "relayed", "exit 0"))
    self.assertEqual(rec["bytes_up"], len(h.client_hello("a.example.test")) + 3)
    self.assertEqual(sp.events("connection", host="nope.example.test")[0]["outcome"], "no-route")
    self.assertRegex(lines[-1], r" stopped ")

  def test_inherited_socket_and_listen_is_ambiguous(self):
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(16)
    try:
      rc, out = run("tls", f"--hosts={self.ws.hosts}", "--user=nobody",
                    f"--listen=127.0.0.1:{h.free_port()}", stdin=lst)
    finally:
      lst.close()
    self.assertNotEqual(rc, 0)
    self.assertIn("--listen", out)

  def test_systemd_socket_activation(self):
    h.Backend(self.ws, os.path.join(self.ws.host_dir("a.example.test"), "tls-socket"),
              h.Backend.greet("systemd"))
    port = h.free_port()
    p = self.ws.spawn(["systemd-socket-activate", "-l", f"127.0.0.1:{port}",
                       h.binary(), "tls", f"--hosts={self.ws.hosts}", "--user=nobody",
                       "--log-format=json"], stderr=subprocess.PIPE)
    try:
      line = p.stderr.readline().decode()  # "Listening on 127.0.0.1:PORT as 3."
      self.assertIn("Listening on", line)
      # systemd-socket-activate starts the program on the first connection
      reply = h.exchange(port, h.client_hello("a.example.test"))
      self.assertEqual(reply, b"systemd\n")
    finally:
      p.terminate()
      out = p.communicate(timeout=h.TIMEOUT)[1].decode()
    self.assertEqual(p.returncode, 0, out)
    self.assertIn('"listen":"systemd socket activation (fd 3)"', out)
    self.assertIn('"event":"stopped"', out)


if __name__ == "__main__":
  unittest.main()
