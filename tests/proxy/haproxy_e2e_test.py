# SPDX-License-Identifier: Apache-2.0
"""Scale-out behind a real L4 balancer (docs/SCALING.md): the real haproxy
binary, running dist/haproxy/sallyport-front.cfg (addresses, ports and the
admin socket rewritten), in front of two sallyport nodes on 127.0.0.11 and
127.0.0.12, each with its own hosts/ and --accept-proxy=127.0.0.1/32 (the
balancer's source address). Real clients (openssl s_client, curl) from
127.0.0.5 and up:
  - each name reaches the node that serves it (TLS by SNI, HTTP by Host);
  - a backend that asks for a PROXY header gets the original client, and
    sallyport's log line names both the balancer and the client;
  - HAProxy's health checks (an IP-literal SNI expecting the alert record,
    an IP-literal Host expecting 404) see both nodes up; a node killed
    mid-run is marked down and routed around with no client error;
  - SIGTERM drain of a node loses no connection in flight; the upgrade
    steps (drain over HAProxy's stats socket, then SIGTERM) keep live relays
    intact, byte for byte;
  - one client crashing children behind the balancer (the test hook of
    //proxy:sallyport_testhooks) is throttled alone: another client behind
    the same balancer keeps being served.
OneMachineTest (no haproxy): several instances sharing one listening
socket, on fd 0 or as systemd passes it (LISTEN_FDS).
Where haproxy is not installed the test skips, saying so; under CI (CI set)
that is a failure: CI installs it (tools/install-deps.sh --bench)."""

import os
import re
import shutil
import signal
import socket
import subprocess
import unittest

import harness as h

NODE_A, NODE_B = "127.0.0.11", "127.0.0.12"
A, B, SHARED = "a.example.test", "b.example.test", "shared.example.test"
PP = "pp.example.test"  # on both nodes; asks for a PROXY v1 header (marker)
CRASH = "sigsys.crash.test"  # proxy/test_hooks.h: the child dies by SIGSYS
TRUSTED = "--accept-proxy=127.0.0.1/32"
HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy")
                                      else None)


def cfg_path():
  return h._runfile("dist/haproxy/sallyport-front.cfg")


def render(ws, ports):
  """The shipped config with this test's ports, admin socket and one extra
  pin: the crash name goes to node A (so the same node sees every crash)."""
  with open(cfg_path()) as f:
    text = f.read()
  admin = os.path.join(ws.root, "haproxy-admin.sock")
  text = text.replace("log /dev/log local0", "")
  text = text.replace("/run/haproxy/sallyport-admin.sock", admin)
  text = text.replace("bind :443", f"bind 127.0.0.1:{ports['front_tls']}")
  text = text.replace("bind :80", f"bind 127.0.0.1:{ports['front_http']}")
  for node, tag in ((NODE_A, "a"), (NODE_B, "b")):
    text = text.replace(f"{node}:443", f"{node}:{ports['tls_' + tag]}")
    text = text.replace(f"{node}:80", f"{node}:{ports['http_' + tag]}")
  # Checks every 200 ms (the shipped 2 s is for production).
  text = text.replace("inter 2s fall 3 rise 2", "inter 200ms fall 2 rise 1")
  text = text.replace("    use_backend tls_a if { req.ssl_sni -i a.example.test }",
                      "    use_backend tls_a if { req.ssl_sni -i a.example.test }\n"
                      f"    use_backend tls_a if {{ req.ssl_sni -i {CRASH} }}")
  path = os.path.join(ws.root, "haproxy.cfg")
  with open(path, "w") as f:
    f.write(text)
  return path, admin


def admin(sock_path, command):
  """One command on HAProxy's stats socket (level admin); its answer."""
  with socket.socket(socket.AF_UNIX) as s:
    s.settimeout(h.TIMEOUT)
    s.connect(sock_path)
    s.sendall(command.encode() + b"\n")
    return h.read_to_eof(s).decode()


def server_status(sock_path):
  """{(backend, server): status} from `show stat`."""
  lines = admin(sock_path, "show stat").splitlines()
  header = lines[0].lstrip("# ").split(",")
  col = header.index("status")
  out = {}
  for line in lines[1:]:
    f = line.split(",")
    if len(f) > col and f[1] not in ("FRONTEND", "BACKEND"):
      out[(f[0], f[1])] = f[col]
  return out


def openssl_cn(port, name, source):
  r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                      "-servername", name, "-bind", f"{source}:0", "-ign_eof"],
                     # s_server -www answers a request and closes: the
                     # client waits for that instead of quitting at EOF
                     # before the handshake's reply has come back.
                     input=b"GET / HTTP/1.0\r\n\r\n", capture_output=True, timeout=h.TIMEOUT)
  out = r.stdout.decode("latin-1") + r.stderr.decode("latin-1")
  return h.cert_cn_from_openssl(out) or out[-600:]


def curl(port, name, source):
  r = subprocess.run(["curl", "-sS", "--max-time", "10", "--interface", source,
                      "--resolve", f"{name}:{port}:127.0.0.1", f"http://{name}:{port}/"],
                     capture_output=True, timeout=h.TIMEOUT)
  return r.returncode, r.stdout.decode("latin-1")


def tls_exchange(port, name, source, may_reset=False):
  """A ClientHello for `name` from `source`, half-close, the reply. With
  may_reset, a connection closed before the half-close is an empty reply."""
  s = h.connect(port, source=source)
  try:
    try:
      s.sendall(h.client_hello(name))
      s.shutdown(socket.SHUT_WR)
    except OSError:
      if not may_reset:
        raise
    return h.read_to_eof(s)
  finally:
    s.close()


@unittest.skipIf(HAPROXY is None and not os.environ.get("CI"),
                 "haproxy not installed: apt-get install haproxy "
                 "(or tools/install-deps.sh --bench)")
class HaproxyTest(unittest.TestCase):

  def setUp(self):
    if HAPROXY is None:
      self.fail("haproxy not installed, and CI is set: CI must install it "
                "(tools/install-deps.sh --bench)")
    self.ws = h.Workspace()
    self.addCleanup(self.ws.close)
    self.nodes = {}
    self.pp_backends = {}
    self.shared_tls = {}  # node tag -> the TLS Backend of SHARED there
    for tag, node in (("a", NODE_A), ("b", NODE_B)):
      hosts = os.path.join(self.ws.root, f"hosts-{tag}")
      os.mkdir(hosts)
      os.chmod(hosts, 0o755)
      own = A if tag == "a" else B
      d = os.path.join(hosts, own)
      os.mkdir(d)
      os.chmod(d, 0o755)
      h.openssl_backend(self.ws, d, f"node-{tag}")
      h.Backend(self.ws, os.path.join(d, "http-socket"), h.Backend.http(f"node-{tag}"))
      d = os.path.join(hosts, PP)
      os.mkdir(d)
      os.chmod(d, 0o755)
      open(os.path.join(d, "send-proxy-v1"), "w").close()
      self.pp_backends[tag] = {
          "tls": h.Backend(self.ws, os.path.join(d, "tls-socket"), h.Backend.greet(f"node-{tag}")),
          "http": h.Backend(self.ws, os.path.join(d, "http-socket"), h.Backend.http(f"node-{tag}"))}
      for name in (SHARED, CRASH):
        d = os.path.join(hosts, name)
        os.mkdir(d)
        os.chmod(d, 0o755)
        tls_be = h.Backend(self.ws, os.path.join(d, "tls-socket"), h.Backend.greet(f"node-{tag}"))
        h.Backend(self.ws, os.path.join(d, "http-socket"), h.Backend.http(f"node-{tag}"))
        if name == SHARED:
          self.shared_tls[tag] = tls_be
      # Workspace.hosts is what Sallyport passes as --hosts.
      self.ws.hosts = hosts
      for proto in ("tls", "http"):
        self.nodes[f"{proto}_{tag}"] = h.Sallyport(
            self.ws, proto, TRUSTED, "--max-crashes-per-minute=100",
            "--drain-timeout=20s", listen=node, exe=h.testhooks_binary())
    ports = {k: sp.port for k, sp in self.nodes.items()}
    ports["front_tls"] = h.free_port()
    ports["front_http"] = h.free_port()
    self.ports = ports
    cfg, self.admin = render(self.ws, ports)
    check = subprocess.run([HAPROXY, "-c", "-f", cfg], capture_output=True, text=True)
    self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
    self.haproxy = self.ws.spawn([HAPROXY, "-db", "-f", cfg], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
    self.wait_status(("tls_all", "a"), "UP")
    for key in (("tls_all", "b"), ("http_all", "a"), ("http_all", "b")):
      self.wait_status(key, "UP")

  def wait_status(self, key, want):
    def ok():
      try:
        return server_status(self.admin).get(key, "").startswith(want)
      except OSError:
        return False
    h.wait_until(ok, what=f"haproxy: {key} {want}")

  def test_names_reach_their_node_with_the_client_address(self):
    front_tls, front_http = self.ports["front_tls"], self.ports["front_http"]
    self.assertEqual(openssl_cn(front_tls, A, "127.0.0.5"), "node-a")
    self.assertEqual(openssl_cn(front_tls, B, "127.0.0.5"), "node-b")
    rc, body = curl(front_http, A, "127.0.0.5")
    self.assertEqual((rc, body), (0, "node-a GET / HTTP/1.1\n"))
    rc, body = curl(front_http, B, "127.0.0.6")
    self.assertEqual((rc, body), (0, "node-b GET / HTTP/1.1\n"))
    # A backend that asks for a PROXY header gets the client, not HAProxy.
    self.assertEqual(curl(front_http, PP, "127.0.0.8")[0], 0)
    self.assertIn(tls_exchange(front_tls, PP, "127.0.0.9"), (b"node-a\n", b"node-b\n"))
    for proto, src, port in (("http", "127.0.0.8", front_http), ("tls", "127.0.0.9", front_tls)):
      bes = [self.pp_backends[t][proto] for t in ("a", "b")]
      h.wait_until(lambda: sum(len(b.conns) for b in bes) == 1, what=f"{proto} PROXY backend")
      conn = next(b for b in bes if b.conns).conns[0]
      if not conn.done.wait(h.TIMEOUT):
        raise AssertionError("backend connection did not finish")
      first = bytes(conn.received).split(b"\r\n", 1)[0].decode()
      self.assertRegex(first, rf"^PROXY TCP4 {re.escape(src)} 127\.0\.0\.1 \d+ {port}$")
    # The log names both: the balancer (client) and the real client.
    rec = self.nodes["http_a"].wait_connection(host=A)
    self.assertTrue(rec["client"].startswith("127.0.0.1:"), rec)
    self.assertTrue(rec["proxied_client"].startswith("127.0.0.5:"), rec)
    rec = self.nodes["tls_b"].wait_connection(host=B)
    self.assertTrue(rec["client"].startswith("127.0.0.1:"), rec)
    self.assertTrue(rec["proxied_client"].startswith("127.0.0.5:"), rec)
    # Health checks (LOCAL headers: the balancer itself) get the refusal
    # they expect for an IP literal: alert 112, status 404; none is routed.
    # (TLS logs an IP-literal SNI as refused-input, HTTP its Host as no-route.)
    for key, field, code, outcome in (("tls_a", "alert", 112, "refused-input"),
                                      ("http_a", "status", 404, "no-route")):
      rec = self.nodes[key].wait_for(
          lambda r: r.get("event") == "connection" and "IP literal" in r.get("detail", ""),
          what=f"{key}: a health check")
      self.assertEqual((rec["outcome"], rec[field]), (outcome, code), rec)
      self.assertTrue(rec["client"].startswith("127.0.0.1:"), rec)

  def test_a_node_down_is_routed_around_and_a_drain_loses_nothing(self):
    front = self.ports["front_tls"]
    seen = {tls_exchange(front, SHARED, "127.0.0.5") for _ in range(6)}
    self.assertEqual(seen, {b"node-a\n", b"node-b\n"}, "round-robin over both nodes")
    self.nodes["tls_b"].kill()
    self.wait_status(("tls_all", "b"), "DOWN")
    for i in range(10):
      self.assertEqual(tls_exchange(front, SHARED, "127.0.0.5"), b"node-a\n", i)
    # Drain node A's HTTP instance with requests in flight: each is served.
    front_http = self.ports["front_http"]
    held = []
    for i in range(4):
      s = h.connect(front_http, source="127.0.0.7")
      s.sendall(f"GET /{i} HTTP/1.1\r\nHost: {SHARED}\r\n".encode())  # head unfinished
      held.append(s)
    h.wait_until(lambda: len(self.nodes["http_a"].children()) +
                 len(self.nodes["http_b"].children()) >= 4, what="4 connections in flight")
    for tag in ("a", "b"):
      self.nodes[f"http_{tag}"].proc.send_signal(signal.SIGTERM)
    for tag in ("a", "b"):
      self.nodes[f"http_{tag}"].wait_event("draining")
    for i, s in enumerate(held):
      s.sendall(b"\r\n")
      reply = h.read_to_eof(s)
      s.close()
      status, _, body = h.parse_http_response(reply)
      self.assertEqual(status, 200, reply)
      self.assertRegex(body.decode(), rf"^node-[ab] GET /{i} HTTP/1.1\n$")
    for tag in ("a", "b"):
      self.assertEqual(self.nodes[f"http_{tag}"].proc.wait(timeout=h.TIMEOUT), 0)

  def test_drain_over_the_stats_socket_then_sigterm_keeps_relays_intact(self):
    """docs/SCALING.md's upgrade steps on node A: drain it in HAProxy, then
    SIGTERM its sallyport while relays through it are live; every byte
    sent after the SIGTERM reaches the backend."""
    front = self.ports["front_tls"]
    live = []  # (socket, the ClientHello it sent, which node answered)
    for _ in range(4):
      s = h.connect(front, source="127.0.0.5")
      hello = h.client_hello(SHARED)
      s.sendall(hello)
      live.append((s, hello, h.read_line(s)))
    on_a = [c for c in live if c[2] == b"node-a\n"]
    self.assertEqual(len(on_a), 2, [c[2] for c in live])  # round-robin
    # 1. drain: new connections go to node B only; the pinned backend
    #    follows (track), so a name that only node A serves has no server.
    self.assertEqual(admin(self.admin, "set server tls_all/a state drain").strip(), "")
    self.wait_status(("tls_all", "a"), "DRAIN")
    self.wait_status(("tls_a", "a"), "DRAIN")
    for i in range(4):
      self.assertEqual(tls_exchange(front, SHARED, "127.0.0.5"), b"node-b\n", i)
    self.assertEqual(tls_exchange(front, A, "127.0.0.5", may_reset=True), b"")
    # 2. SIGTERM node A: it stops accepting and drains its live relays.
    sp = self.nodes["tls_a"]
    sp.proc.send_signal(signal.SIGTERM)
    self.assertGreaterEqual(sp.wait_event("draining")[0]["in_flight"], len(on_a))
    sent = {}
    for s, hello, _ in live:
      sent[hello] = hello + h.chunk(0)[:1 << 19] + h.chunk(1)
      s.sendall(sent[hello][len(hello):])
      s.shutdown(socket.SHUT_WR)
      self.assertEqual(h.read_to_eof(s), b"")
      s.close()
    self.assertEqual(sp.proc.wait(timeout=h.TIMEOUT), 0)
    self.assertEqual(len(sp.events("stopped")), 1)
    got = []
    for tag in ("a", "b"):
      for c in self.shared_tls[tag].conns:
        if not c.done.wait(h.TIMEOUT):
          raise AssertionError("backend connection did not finish")
        if bytes(c.received[:len(live[0][1])]) in sent:
          got.append(bytes(c.received))
    self.assertEqual(sorted(got), sorted(sent.values()))  # nothing lost or cut
    # The stopped node fails its checks; B carries everything.
    self.wait_status(("tls_all", "a"), "DOWN")
    for i in range(4):
      self.assertEqual(tls_exchange(front, SHARED, "127.0.0.5"), b"node-b\n", i)

  def test_a_crashing_client_is_throttled_alone(self):
    front = self.ports["front_tls"]
    sp = self.nodes["tls_a"]
    for i in range(3):
      self.assertEqual(tls_exchange(front, CRASH, "127.0.0.66"), b"")
      sp.wait_event("security", i + 1, what="child killed by SIGSYS")
    throttled = sp.wait_event("security", 1, client="127.0.0.66")[0]
    self.assertIn("source throttled", throttled["what"])
    # That client is refused now, on a harmless name too (pinned to node A) ...
    self.assertEqual(tls_exchange(front, A, "127.0.0.66"), h.alert_record(h.ALERT_INTERNAL_ERROR))
    rec = sp.wait_event("refused", 1, reason="source throttled after crashing children")[0]
    self.assertTrue(rec["proxied_client"].startswith("127.0.0.66:"), rec)
    # ... while another client behind the same balancer is served, and the
    # balancer itself is never throttled.
    self.assertEqual(openssl_cn(front, A, "127.0.0.67"), "node-a")
    self.assertEqual(sp.events("security", client="127.0.0.1"), [])
    self.assertEqual(server_status(self.admin)[("tls_all", "a")][:2], "UP")


class OneMachineTest(unittest.TestCase):
  """docs/SCALING.md, several instances on one machine (no haproxy needed):
  sallyport binds no port that another instance could share, so N
  instances share one listening socket, inherited on fd 0 (inetd wait mode,
  StandardInput=socket) or as systemd passes it (LISTEN_FDS=1, fd 3, what
  Sockets= gives every service listing the same .socket unit). Every
  connection is served by one of them, and when one is stopped the others
  take all of them."""

  def test_instances_share_one_listening_socket(self):
    ws = h.Workspace()
    try:
      d = ws.host_dir(A)
      h.Backend(ws, os.path.join(d, "tls-socket"), h.Backend.greet("ok"))
      ls = socket.socket()
      ls.bind(("127.0.0.1", 0))
      ls.listen(128)
      port = ls.getsockname()[1]
      # systemd's protocol, emulated: the socket on fd 3, LISTEN_PID = the
      # pid that execs sallyport.
      activate = ("sh", "-c", 'exec 3<&0 </dev/null; LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"', "sh")
      sps = [h.Sallyport(ws, "tls", listen=None, stdin=ls.fileno()),
             h.Sallyport(ws, "tls", listen=None, stdin=ls.fileno()),
             h.Sallyport(ws, "tls", listen=None, stdin=ls.fileno(), wrapper=activate)]
      self.assertEqual([sp.events("started")[0]["listen"] for sp in sps],
                       ["inherited on fd 0 (inetd wait mode / StandardInput=socket)"] * 2 +
                       ["systemd socket activation (fd 3)"])

      def relayed(sp):
        return len(sp.events("connection", outcome="relayed"))

      def serve(n, by):
        """n connections, all answered; each logged by one of `by`."""
        start = sum(relayed(sp) for sp in by)
        for i in range(n):
          self.assertEqual(h.exchange(port, h.client_hello(A)), b"ok\n", i)
        h.wait_until(lambda: sum(relayed(sp) for sp in by) >= start + n,
                     what=f"{n} connection lines")
        self.assertEqual(sum(relayed(sp) for sp in by), start + n)

      serve(30, sps)
      # One instance stopped (SIGTERM): the others serve every connection.
      self.assertEqual(sps[0].stop(), 0)
      before = relayed(sps[0])
      serve(20, sps[1:])
      self.assertEqual(relayed(sps[0]), before)
      # No SO_REUSEPORT: a second --listen on the same port is refused.
      r = subprocess.run([h.binary(), "tls", f"--hosts={ws.hosts}", "--user=nobody",
                          f"--listen=127.0.0.1:{port}"], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=h.TIMEOUT)
      self.assertEqual(r.returncode, 2, r.stderr)
      self.assertIn("Address already in use", r.stderr)
      self.assertEqual([sp.stop() for sp in sps[1:]], [0, 0])
      ls.close()
    finally:
      ws.close()



if __name__ == "__main__":
  unittest.main()
