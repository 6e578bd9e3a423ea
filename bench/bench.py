#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench/bench.py — the driver behind bench/run.sh (read that first).

Starts the backends, sallyport and its peers (HAProxy, nginx, sniproxy,
socat) on 127.0.0.1, runs interleaved rounds of every measurement with
bench/loadgen, stops every process it started and writes bench/RESULTS.md
(or the file named by --out). Exits non-zero if any stage breaks.

Python 3 standard library only. Needs root (sallyport --user=nobody, PSS of
other users' processes).
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = os.path.join(ROOT, "bazel-bin")
LOADGEN = os.path.join(BIN, "bench", "loadgen")
BACKEND = os.path.join(BIN, "bench", "backend")
SALLYPORT = os.path.join(BIN, "proxy", "sallyport")  # --sallyport=PATH overrides
FORKCOST = os.path.join(BIN, "bench", "forkcost")
FORKCOST_STATIC = os.path.join(BIN, "bench", "forkcost_static")
HANDOFF_RATE = os.path.join(BIN, "bench", "handoff_rate")
HELLOS = os.path.join(ROOT, "tests", "parser", "testdata", "clienthellos")
BASE_HELLO = "openssl-tls13"  # real capture, 260 bytes, SNI below
TLS_NAME = "openssl-tls13.example.test"
HTTP_NAME = "http.bench.test"
UP_NAME = "bulk-up.bench.test"
DOWN_NAME = "bulk-down.bench.test"
PAD300_NAME = "pad300.bench.test"
PAD16K_NAME = "pad16k.bench.test"
TLS_NAMES = [TLS_NAME, UP_NAME, DOWN_NAME, PAD300_NAME, PAD16K_NAME]

# Filled in by allocate_ports(): (tls port, http port or None) per process.
PORTS = {}
PORT_NAMES = {"sallyport": 2, "sallyport-10k": 1, "sallyport-2acc": 1, "haproxy": 2,
              "nginx": 2, "sniproxy": 2, "socat": 2, "socat-sink": 1, "socat-source": 1}
# Held at once in the large memory stage (sallyport and direct only).
MANY_HELD = 10000
# Client source addresses 127.0.0.2..: one address caps TLS (client closes
# first, TIME_WAIT) at about 14k conn/s; see bench/loadgen.cc OpenSocket.
SOURCES = 16
PEERS = ["direct", "sallyport", "haproxy", "nginx", "sniproxy", "socat"]
PROXIES = PEERS[1:]


class StageError(Exception):
  pass


T0 = time.monotonic()


def log(*a):
  print(f"[bench {time.monotonic() - T0:5.1f}s]", *a, file=sys.stderr, flush=True)


def sh(cmd):
  return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()


# --- processes -------------------------------------------------------------------

class Procs:
  """Every process this run starts, each in its own process group."""

  def __init__(self):
    self.procs = {}

  def start(self, name, args, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("stdout", subprocess.DEVNULL)
    kw.setdefault("stderr", subprocess.DEVNULL)
    p = subprocess.Popen(args, start_new_session=True, **kw)
    self.procs[name] = p
    return p

  def check_alive(self):
    for name, p in self.procs.items():
      if p.poll() is not None:
        raise StageError(f"{name} exited early with status {p.returncode}")

  def stop(self, name):
    p = self.procs.pop(name)
    if p.poll() is None:
      try:
        os.killpg(p.pid, signal.SIGTERM)
      except ProcessLookupError:
        pass
      try:
        p.wait(timeout=5)
      except subprocess.TimeoutExpired:
        pass
    # The group may hold children (socat, nginx workers, sallyport children).
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and group_alive(p.pid):
      time.sleep(0.05)
    if group_alive(p.pid):
      try:
        os.killpg(p.pid, signal.SIGKILL)
      except ProcessLookupError:
        pass
    if p.poll() is None:
      p.wait(timeout=5)

  def stop_all(self):
    for name in list(self.procs):
      self.stop(name)


def group_alive(pgid):
  try:
    os.killpg(pgid, 0)
    return True
  except ProcessLookupError:
    return False
  except PermissionError:
    return True


def wait_tcp(port, timeout=10, name=""):
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    try:
      with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return
    except OSError:
      time.sleep(0.02)
  raise StageError(f"{name}: nothing listens on 127.0.0.1:{port} after {timeout}s")


def allocate_ports():
  """Free ports from the kernel (other work on the machine may hold fixed ones)."""
  held = []
  for name, n in PORT_NAMES.items():
    ports = []
    for _ in range(n):
      s = socket.socket()
      s.bind(("127.0.0.1", 0))
      held.append(s)
      ports.append(s.getsockname()[1])
    PORTS[name] = (ports[0], ports[1] if n > 1 else None)
  for s in held:
    s.close()


# --- /proc -------------------------------------------------------------------------

def tree(root_pid):
  """root_pid and all its live descendants."""
  children = {}
  for d in os.listdir("/proc"):
    if not d.isdigit():
      continue
    try:
      with open(f"/proc/{d}/stat") as f:
        s = f.read()
    except OSError:
      continue
    ppid = int(s[s.rindex(")") + 2:].split()[1])
    children.setdefault(ppid, []).append(int(d))
  out, todo = [], [root_pid]
  while todo:
    p = todo.pop()
    out.append(p)
    todo.extend(children.get(p, []))
  return out


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
  """utime+stime+cutime+cstime summed: everything the tree ever ran."""
  total = 0
  for p in pids:
    try:
      with open(f"/proc/{p}/stat") as f:
        s = f.read()
    except OSError:
      continue
    fields = s[s.rindex(")") + 2:].split()
    total += sum(int(x) for x in fields[11:15])
  return total / TICK


def cpu_split(pid):
  """(parent's own, its reaped children's, each live helper's by argv[0])
  CPU seconds: the relays and the zygote are not reaped while it runs."""
  with open(f"/proc/{pid}/stat") as f:
    s = f.read()
  fields = s[s.rindex(")") + 2:].split()
  own = (int(fields[11]) + int(fields[12])) / TICK
  reaped = (int(fields[13]) + int(fields[14])) / TICK
  helpers = {}
  for p in tree(pid)[1:]:
    try:
      with open(f"/proc/{p}/cmdline", "rb") as f:
        name = f.read().split(b"\0")[0].decode(errors="replace")
      with open(f"/proc/{p}/stat") as f:
        st = f.read()
    except OSError:
      continue
    if name in ("sallyport-relay", "sallyport-zygote"):
      fl = st[st.rindex(")") + 2:].split()
      helpers[name] = helpers.get(name, 0) + (int(fl[11]) + int(fl[12])) / TICK
  return own, reaped, helpers


def sallyport_maps(pid):
  try:
    with open(f"/proc/{pid}/maps") as f:
      return sum(1 for _ in f)
  except OSError:
    return None


def pss_kib(pids):
  total = 0
  for p in pids:
    try:
      with open(f"/proc/{p}/smaps_rollup") as f:
        for line in f:
          if line.startswith("Pss:"):
            total += int(line.split()[1])
    except OSError:
      continue
  return total


def idle_ticks():
  """(idle + iowait, total) jiffies of all CPUs, from /proc/stat."""
  with open("/proc/stat") as f:
    v = [int(x) for x in f.readline().split()[1:]]
  return v[3] + v[4], sum(v[:8])


def kernel_kib():
  vals = {}
  with open("/proc/meminfo") as f:
    for line in f:
      k, v = line.split(":")
      vals[k] = int(v.split()[0])
  return vals["Slab"] + vals["KernelStack"] + vals["PageTables"], vals


# --- set-up --------------------------------------------------------------------------

class Bench:

  def __init__(self, args):
    self.a = args
    self.smoke = args.smoke
    self.rounds = 1 if self.smoke else args.rounds
    self.seconds = 0.25 if self.smoke else args.seconds
    self.warmup = 0.05 if self.smoke else 0.3
    self.bulk_bytes = (16 << 20) if self.smoke else (1 << 30)
    self.hold = 20 if self.smoke else 500
    self.many_held = 200 if self.smoke else MANY_HELD
    self.many_hosts = 10000
    self.procs = Procs()
    self.work = tempfile.mkdtemp(prefix="spb-", dir="/tmp")
    os.chmod(self.work, 0o755)
    self.results = {}
    self.notes = []
    self.stage_errors = []

  # host dirs -------------------------------------------------------------------
  def make_hosts(self, name, count):
    hosts = os.path.join(self.work, name)
    os.mkdir(hosts, 0o755)
    specs = []
    for n in TLS_NAMES:
      os.mkdir(os.path.join(hosts, n), 0o755)
    os.mkdir(os.path.join(hosts, HTTP_NAME), 0o755)
    mode = {TLS_NAME: "tls", UP_NAME: f"sink:{self.bulk_bytes}", DOWN_NAME: f"source:{self.bulk_bytes}",
            PAD300_NAME: "tls", PAD16K_NAME: "tls"}
    for n in TLS_NAMES:
      specs.append(f"{hosts}/{n}/tls-socket:{mode[n]}")
    specs.append(f"{hosts}/{HTTP_NAME}/http-socket:http")
    for i in range(count - len(TLS_NAMES) - 1):
      os.mkdir(os.path.join(hosts, f"tenant{i:05d}.bench.test"), 0o755)
    return hosts, specs

  def sock(self, name, kind="tls"):
    return f"{self.hosts}/{name}/{kind}-socket"

  def fill(self, template, out, subs):
    with open(os.path.join(HERE, "conf", template)) as f:
      text = f.read()
    for k, v in subs.items():
      text = text.replace(f"@{k}@", v)
    if re.search(r"@[A-Z_0-9]+@", text):
      raise StageError(f"{template}: unfilled placeholder")
    with open(out, "w") as f:
      f.write(text)
    return out

  def tls_routes(self):
    return [(n, self.sock(n)) for n in TLS_NAMES]

  def configs(self):
    w = self.work
    os.mkdir(os.path.join(w, "nginx-tmp"))
    routes = self.tls_routes()
    hsock = self.sock(HTTP_NAME, "http")
    # HAProxy
    be = [f"backend be_{i}\n    mode tcp\n    server s unix@{p}\n" for i, (_, p) in enumerate(routes)]
    be.append(f"backend be_http\n    mode http\n    server s unix@{hsock}\n")
    self.haproxy_cfg = self.fill("haproxy.cfg.in", f"{w}/haproxy.cfg", {
        "WORK": w, "TLS_PORT": str(PORTS["haproxy"][0]), "HTTP_PORT": str(PORTS["haproxy"][1]),
        "TLS_USE_BACKENDS": "\n".join(
            f"    use_backend be_{i} if {{ req.ssl_sni -i {n} }}" for i, (n, _) in enumerate(routes)),
        "HTTP_USE_BACKENDS": f"    use_backend be_http if {{ hdr(host) -i {HTTP_NAME} }}",
        "BACKENDS": "\n".join(be)})
    # nginx
    self.nginx_conf = self.fill("nginx.conf.in", f"{w}/nginx.conf", {
        "WORK": w, "TLS_PORT": str(PORTS["nginx"][0]), "HTTP_PORT": str(PORTS["nginx"][1]),
        "STREAM_UPSTREAMS": "\n".join(
            f"    upstream t{i} {{ server unix:{p}; }}" for i, (_, p) in enumerate(routes)),
        "STREAM_MAP": "\n".join(f"        {n} t{i};" for i, (n, _) in enumerate(routes)),
        "HTTP_UPSTREAMS": f"    upstream h0 {{ server unix:{hsock}; }}",
        "HTTP_MAP": f"        {HTTP_NAME} h0;"})
    # sniproxy
    self.sniproxy_conf = self.fill("sniproxy.conf.in", f"{w}/sniproxy.conf", {
        "WORK": w, "TLS_PORT": str(PORTS["sniproxy"][0]), "HTTP_PORT": str(PORTS["sniproxy"][1]),
        "TLS_TABLE": "\n".join(f"    ^{n}$ unix:{p}" for n, p in routes),
        "HTTP_TABLE": f"    ^{HTTP_NAME}$ unix:{hsock}"})

  def start_all(self):
    allocate_ports()
    self.hosts, specs = self.make_hosts("hosts", 10)
    self.hosts10k, specs10k = self.make_hosts("hosts10k", self.many_hosts)
    self.configs()
    # Requests.
    self.req = {}
    self.req["tls"] = os.path.join(HELLOS, BASE_HELLO + ".bin")
    for key, name, size in (("up", UP_NAME, 0), ("down", DOWN_NAME, 0),
                            ("pad300", PAD300_NAME, 300), ("pad16k", PAD16K_NAME, 5 + 16384)):
      out = os.path.join(self.work, f"hello-{key}.bin")
      args = [LOADGEN, "hello", f"--in={self.req['tls']}", f"--out={out}", f"--sni={name}"]
      if size:
        args.append(f"--size={size}")
      run(args)
      self.req[key] = out
    self.req["http"] = os.path.join(self.work, "request.http")
    with open(self.req["http"], "wb") as f:
      f.write(f"GET / HTTP/1.1\r\nHost: {HTTP_NAME}\r\nUser-Agent: bench-loadgen\r\n"
              "Accept: */*\r\nConnection: close\r\n\r\n".encode())

    log("starting backends")
    be = self.procs.start("backend", [BACKEND, "--threads=2"] + specs + specs10k,
                          stdout=subprocess.PIPE)
    if be.stdout.readline().strip() != b"ready":
      raise StageError("backend did not start")
    log("starting sallyport x3, haproxy, nginx, sniproxy, socat x4")
    self.splog = {}
    for name, hosts, proto, port in (
        ("sallyport", self.hosts, "tls", PORTS["sallyport"][0]),
        ("sallyport-http", self.hosts, "http", PORTS["sallyport"][1]),
        ("sallyport-10k", self.hosts10k, "tls", PORTS["sallyport-10k"][0])):
      self.splog[name] = os.path.join(self.work, f"{name}.log")
      self.procs.start(name, [SALLYPORT, proto, f"--hosts={hosts}",
                              f"--listen=127.0.0.1:{port}", "--user=nobody",
                              "--max-connections=20000", "--max-per-ip=20000",
                              "--rate-per-ip=10000000", "--drain-timeout=1s"],
                       stderr=open(self.splog[name], "w"))
    # Two acceptors on one listening socket (each its own parent, zygote and
    # relays), inherited on fd 0 as from inetd or a socket unit.
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", PORTS["sallyport-2acc"][0]))
    lst.listen(4096)
    for name in ("sallyport-2acc-a", "sallyport-2acc-b"):
      self.splog[name] = os.path.join(self.work, f"{name}.log")
      self.procs.start(name, [SALLYPORT, "tls", f"--hosts={self.hosts}", "--user=nobody",
                              "--max-connections=20000", "--max-per-ip=20000",
                              "--rate-per-ip=10000000", "--drain-timeout=1s"],
                       stdin=lst, stderr=open(self.splog[name], "w"))
    lst.close()
    self.procs.start("haproxy", ["haproxy", "-db", "-f", self.haproxy_cfg],
                     stderr=open(f"{self.work}/haproxy.log", "w"))
    self.procs.start("nginx", ["nginx", "-e", f"{self.work}/nginx-error.log",
                               "-c", self.nginx_conf],
                     stderr=open(f"{self.work}/nginx.log", "w"))
    self.procs.start("sniproxy", ["sniproxy", "-f", "-c", self.sniproxy_conf],
                     stderr=open(f"{self.work}/sniproxy.log", "w"))
    for name, port, path in (("socat", PORTS["socat"][0], self.sock(TLS_NAME)),
                             ("socat-http", PORTS["socat"][1], self.sock(HTTP_NAME, "http")),
                             ("socat-sink", PORTS["socat-sink"][0], self.sock(UP_NAME)),
                             ("socat-source", PORTS["socat-source"][0], self.sock(DOWN_NAME))):
      self.procs.start(name, ["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr,backlog=4096",
                              f"UNIX-CONNECT:{path}"])
    for name, (a, b) in PORTS.items():
      for port in (a, b):
        if port:
          self.procs.check_alive()
          wait_tcp(port, name=name)
    time.sleep(0.2)
    self.procs.check_alive()
    self.socat_cmd = ("socat TCP-LISTEN:PORT,bind=127.0.0.1,fork,reuseaddr,backlog=4096 "
                      "UNIX-CONNECT:hosts/NAME/tls-socket")
    self.sp_cmd = ("sallyport tls|http --hosts=HOSTS --listen=127.0.0.1:PORT --user=nobody "
                   "--max-connections=20000 --max-per-ip=20000 --rate-per-ip=10000000 "
                   "--drain-timeout=1s")

  # targets ----------------------------------------------------------------------
  def target(self, peer, what):
    """what: tls, http, up, down, pad300, pad16k."""
    if peer == "direct":
      name = {"tls": TLS_NAME, "up": UP_NAME, "down": DOWN_NAME, "pad300": PAD300_NAME,
              "pad16k": PAD16K_NAME, "http": HTTP_NAME}[what]
      return "unix:" + self.sock(name, "http" if what == "http" else "tls")
    if peer == "socat":
      port = {"tls": PORTS["socat"][0], "pad300": PORTS["socat"][0],
              "pad16k": PORTS["socat"][0], "http": PORTS["socat"][1],
              "up": PORTS["socat-sink"][0], "down": PORTS["socat-source"][0]}[what]
      return f"tcp:127.0.0.1:{port}"
    a, b = PORTS[peer]
    return f"tcp:127.0.0.1:{b if what == 'http' else a}"

  def pids(self, peer):
    names = {"direct": [], "sallyport": ["sallyport", "sallyport-http"],
             "sallyport-10k": ["sallyport-10k"],
             "sallyport-2acc": ["sallyport-2acc-a", "sallyport-2acc-b"],
             "haproxy": ["haproxy"], "nginx": ["nginx"],
             "sniproxy": ["sniproxy"],
             "socat": ["socat", "socat-http", "socat-sink", "socat-source"]}[peer]
    out = []
    for n in names:
      out.extend(tree(self.procs.procs[n].pid))
    return out

  # measurements -------------------------------------------------------------------
  def short(self, peer, what, conc, allow_fail=False):
    pids = self.pids(peer)
    c0 = cpu_seconds(pids)
    args = [LOADGEN, "short", f"--target={self.target(peer, what)}",
            f"--request={self.req[what]}", f"--proto={'http' if what == 'http' else 'tls'}",
            f"--concurrency={conc}", f"--seconds={self.seconds}", f"--warmup={self.warmup}",
            f"--sources={SOURCES}"]
    i0 = idle_ticks()
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    i1 = idle_ticks()
    try:
      res = json.loads(r.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
      raise StageError(f"loadgen short {peer} {what}: {r.stderr.strip()}")
    c1 = cpu_seconds(self.pids(peer))
    res["idle"] = (i1[0] - i0[0]) / max(1, i1[1] - i0[1])  # share of all CPU time
    if r.returncode != 0:
      if allow_fail:
        res["failed"] = res.get("first_error") or f"exit {r.returncode}"
        return res
      raise StageError(f"loadgen short {peer} {what} c{conc}: {r.stdout.strip()} {r.stderr.strip()}")
    total = res.get("total", res["conns"])
    res["cpu_us"] = (c1 - c0) * 1e6 / total if total and peer != "direct" else None
    return res

  def bulk(self, peer, direction):
    r = subprocess.run([LOADGEN, "bulk", f"--target={self.target(peer, direction)}",
                        f"--request={self.req[direction]}", f"--direction={direction}",
                        f"--bytes={self.bulk_bytes}"], capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0:
      raise StageError(f"loadgen bulk {peer} {direction}: {r.stderr.strip()}")
    return json.loads(r.stdout)

  def memory(self, peer, count=None, while_held=None):
    """Memory per held connection; `while_held()` (if given) runs while
    they are held and its result is returned under "during"."""
    count = count or self.hold
    pids = self.pids(peer)
    time.sleep(0.3)  # let the previous stage's children go
    base_pss = pss_kib(self.pids(peer)) if peer != "direct" else 0
    base_k, _ = kernel_kib()
    t0 = time.monotonic()
    p = subprocess.Popen([LOADGEN, "hold", f"--target={self.target(peer, 'tls')}",
                          f"--request={self.req['tls']}", "--proto=tls", f"--count={count}"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = p.stdout.readline().decode().strip()
    if not line.startswith("ready"):
      p.kill()
      raise StageError(f"loadgen hold {peer} {count}: {p.stderr.read().decode().strip()}")
    opened = time.monotonic() - t0
    time.sleep(0.3)
    pids = self.pids(peer)
    held_pss = pss_kib(pids) if peer != "direct" else 0
    held_k, _ = kernel_kib()
    nproc = len(pids)
    during = while_held() if while_held else None
    out, err = p.communicate(timeout=60)  # closes stdin: the holder lets go
    try:
      end = json.loads(out.decode().strip().splitlines()[-1])
    except (IndexError, ValueError):
      raise StageError(f"loadgen hold {peer} {count}: {err.decode().strip()}")
    return {"pss_kib": (held_pss - base_pss) / count,
            "kernel_kib": (held_k - base_k) / count, "procs": nproc,
            "base_pss": base_pss, "count": count, "dropped": end.get("dropped"),
            "open_s": opened, "during": during}

  def profile(self):
    """perf record (cpu-clock, system-wide) during a sallyport c32 run."""
    data = os.path.join(self.work, "perf.data")
    p = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-a", "-g", "-o", data,
                          "--", "sleep", str(self.seconds + 1)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    self.profile_run = self.short("sallyport", "tls", 32)
    p.wait(timeout=60)
    comm = os.path.basename(SALLYPORT)[:15]
    total = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "comm",
                            "--stdio", "-g", "none"], capture_output=True, text=True, timeout=120)
    comms = [l for l in total.stdout.splitlines() if l.strip() and not l.startswith("#")]
    share = None
    for l in comms:
      if l.split()[-1] == comm:
        share = float(l.split()[0].rstrip("%"))
    rep = subprocess.run(["perf", "report", "-i", data, "--children", "--comm", comm,
                          "--sort", "sym", "--stdio", "-g", "none"],
                         capture_output=True, text=True, timeout=120)
    with open(os.path.join(self.work, "perf-children.txt"), "w") as f:
      f.write(rep.stdout)
    incl = {}
    for l in rep.stdout.splitlines():
      m = re.match(r"\s*([\d.]+)%\s+([\d.]+)%\s+\[[.k]\]\s+(.*\S)", l)
      if m:
        incl.setdefault(m.group(3), float(m.group(1)))
    self_rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--comm", comm,
                               "--sort", "sym", "--stdio", "-g", "none"],
                              capture_output=True, text=True, timeout=120)
    with open(os.path.join(self.work, "perf-self.txt"), "w") as f:
      f.write(self_rep.stdout)
    hot = [l.rstrip() for l in self_rep.stdout.splitlines()
           if l.strip() and not l.startswith("#")]
    return {"share": share, "incl": incl, "hot": hot[:15], "comms": comms[:6]}

  # the run --------------------------------------------------------------------------
  def run(self):
    t0 = time.monotonic()
    self.start_all()
    log(f"set up in {time.monotonic() - t0:.1f}s; work dir {self.work}")
    R = self.results
    scen = [("tls", 1), ("tls", 32), ("http", 1), ("http", 32)]
    for rnd in range(self.rounds):
      log(f"round {rnd + 1}/{self.rounds}: short connections")
      for what, conc in scen:
        for peer in PEERS:
          R.setdefault(("short", what, conc, peer), []).append(self.short(peer, what, conc))
      self.procs.check_alive()
    log("host-directory growth (sallyport 10 vs 10,000 dirs), interleaved")
    for rnd in range(self.rounds):
      for peer in ("sallyport", "sallyport-10k"):
        R.setdefault(("hosts", peer), []).append(self.short(peer, "tls", 32))
    log("ClientHello size growth (300 B vs 16 KiB)")
    for rnd in range(max(1, min(self.rounds, 3))):
      for what in ("pad300", "pad16k"):
        for peer in PEERS:
          R.setdefault(("hello", what, peer), []).append(
              self.short(peer, what, 32, allow_fail=(what == "pad16k")))
    log("bulk")
    for rnd in range(max(1, min(self.rounds, 3))):
      for direction in ("up", "down"):
        for peer in PEERS:
          R.setdefault(("bulk", direction, peer), []).append(self.bulk(peer, direction))
    log("memory: held connections")
    for rnd in range(max(1, min(self.rounds, 3))):
      for peer in PEERS:
        R.setdefault(("mem", peer), []).append(self.memory(peer))
    self.procs.check_alive()
    log(f"{self.many_held:,} held: memory, and short connections meanwhile")
    for rnd in range(max(1, min(self.rounds, 2))):
      R.setdefault(("many", "direct"), []).append(self.memory("direct", self.many_held))
      R.setdefault(("many-unloaded",), []).append(self.short("sallyport", "tls", 32))
      R.setdefault(("many", "sallyport"), []).append(
          self.memory("sallyport", self.many_held,
                      while_held=lambda: self.short("sallyport", "tls", 32)))
    self.procs.check_alive()
    log("acceptors: one sallyport vs two on one listening socket, interleaved")
    for rnd in range(self.rounds):
      for peer in ("sallyport", "sallyport-2acc"):
        R.setdefault(("acc", peer), []).append(self.short(peer, "tls", 32))
    self.procs.check_alive()
    log("fork floor: fork+exit+wait of a small image (and one with sallyport's libraries)")
    libs = [l.split("=>")[1].split()[0] for l in sh(f"ldd {SALLYPORT}").splitlines()
            if "=>" in l and "/" in l.split("=>")[1]]
    env = dict(os.environ, LD_PRELOAD=":".join(libs))
    n = "300" if self.smoke else "3000"
    for rnd in range(max(1, min(self.rounds, 3))):
      R.setdefault(("fork", "small"), []).append(json.loads(run([FORKCOST, n])))
      R.setdefault(("fork", "static"), []).append(json.loads(run([FORKCOST_STATIC, n])))
      R.setdefault(("handoff",), []).append(
          json.loads(run([HANDOFF_RATE, "4" if self.smoke else "40", "256"])))
      if libs:  # a dynamic sallyport: the same with its shared objects
        R.setdefault(("fork", "sallyport-libs"), []).append(
            json.loads(subprocess.run([FORKCOST, n], env=env, capture_output=True, text=True,
                                      check=True).stdout))
    self.nlibs = len(libs)
    self.sp_maps = sallyport_maps(self.procs.procs["sallyport"].pid)
    # sallyport parent vs children CPU, over everything so far
    self.sp_split = cpu_split(self.procs.procs["sallyport"].pid)
    self.sp_accepted = sum(1 for _ in open(self.splog["sallyport"]) if " connection " in _)
    self.perf = None
    if not self.smoke and shutil.which("perf"):
      log("perf profile of sallyport (cpu-clock)")
      try:
        self.perf = self.profile()
      except (subprocess.SubprocessError, OSError, StageError) as e:
        self.notes.append(f"perf profile failed: {e}")
    self.elapsed = time.monotonic() - t0
    self.check_logs()

  def check_logs(self):
    bad = 0
    for name, path in self.splog.items():
      with open(path) as f:
        for line in f:
          if " connection " in line and "outcome=relayed" not in line:
            bad += 1
            if bad <= 3:
              self.notes.append(f"sallyport ({name}) logged: `{line.strip()[:200]}`")
    self.sp_unrelayed = bad

  def close(self, keep=False):
    self.procs.stop_all()
    if keep:
      log(f"kept {self.work} (logs, configs)")
    else:
      shutil.rmtree(self.work, ignore_errors=True)


def run(args):
  r = subprocess.run(args, capture_output=True, text=True, timeout=60)
  if r.returncode != 0:
    raise StageError(f"{' '.join(args)}: {r.stderr.strip()}")
  return r.stdout


# --- report ----------------------------------------------------------------------------

def med(xs):
  xs = [x for x in xs if x is not None]
  return statistics.median(xs) if xs else None


def rng(xs, fmt):
  xs = [x for x in xs if x is not None]
  if not xs:
    return "—"
  m = statistics.median(xs)
  if len(xs) == 1:
    return fmt.format(m)
  return f"{fmt.format(m)} ({fmt.format(min(xs))}–{fmt.format(max(xs))})"


def ratio(num, den):
  """Median over rounds of num[i]/den[i] (same round)."""
  rs = [a / b for a, b in zip(num, den) if a is not None and b]
  return statistics.median(rs) if rs else None


def fr(x):
  return "—" if x is None else f"{x:.2f}×"


def machine():
  cpu = sh("lscpu | sed -n 's/^Model name: *//p'")
  mem = sh("awk '/MemTotal/ {printf \"%.1f GiB\", $2/1048576}' /proc/meminfo")
  return (f"nproc {os.cpu_count()}, {cpu}, kernel {platform.release()}, memory {mem}, "
          f"load average at start {os.getloadavg()[0]:.2f}")


def versions():
  v = {}
  v["sallyport"] = sh(f"{SALLYPORT} --version 2>&1 | head -1")
  v["HAProxy"] = sh("haproxy -v 2>&1 | head -1")
  v["nginx"] = sh("nginx -v 2>&1 | head -1") + "; " + sh(
      "dpkg-query -W -f='libnginx-mod-stream ${Version}' libnginx-mod-stream")
  v["sniproxy"] = sh("sniproxy -V 2>&1 | head -1") + " (" + sh(
      "dpkg-query -W -f='${Version}' sniproxy") + ")"
  v["socat"] = sh("socat -V 2>&1 | grep -m1 'socat version'")
  return v


def report(b, path):
  R = b.results
  L = []
  add = L.append
  add("# sallyport benchmarks")
  add("")
  add("Generated by `bench/run.sh" + (" --smoke" if b.smoke else "") + "` on "
      + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
      + f" in {b.elapsed:.0f} s. Do not edit by hand; rerun the script.")
  if b.smoke:
    add("")
    add("**Smoke run: tiny sizes, one round. The figures mean nothing.**")
  add("")
  add("## Machine and peers")
  add("")
  add(f"- Machine: {machine()}.")
  for k, v in versions().items():
    add(f"- {k}: {v}")
  add("")
  add("Everything runs on this one machine: the load generator (`//bench:loadgen`, "
      "2 epoll threads), the backends (`//bench:backend`, 2 epoll threads, Unix "
      "sockets) and every peer, each on its own port on 127.0.0.1. The 2 cores are "
      "shared by all of them, so absolute figures are low and noisy; the ratios "
      "measured in the same round are the results.")
  add("")
  add("Configurations (templates committed under `bench/conf/`, filled in with the "
      "work directory, ports and routes by `bench/bench.py`):")
  add("")
  add("- **direct**: the load generator connects straight to the backend's Unix socket (the limit).")
  add(f"- **sallyport**: `{b.sp_cmd}`, as root; one instance per protocol. "
      "The per-IP limits are raised because all load comes from 127.0.0.1. "
      "It logs one line per connection to a file (it has no switch to turn that off).")
  add("- **HAProxy**: `bench/conf/haproxy.cfg.in`: `nbthread 2`, TCP frontend with "
      "`tcp-request inspect-delay 5s` + `req.ssl_sni` + `use_backend` to "
      "`server s unix@…`; HTTP frontend routing by `hdr(host)`. Defaults otherwise "
      "(no logging, no splicing, `tune.bufsize` 16384).")
  add("- **nginx**: `bench/conf/nginx.conf.in`: 2 workers; `stream { ssl_preread on; "
      "map $ssl_preread_server_name … ; proxy_pass unix: upstream }` and "
      "`http { map $host …; proxy_pass http://upstream (unix:) }`, access log off.")
  add("- **sniproxy**: `bench/conf/sniproxy.conf.in`: tables of `^name$ unix:/path` "
      "(sniproxy.conf(5) supports Unix-socket servers), no access log.")
  add(f"- **socat**: `{b.socat_cmd}`: fork per connection, no routing (one "
      "instance per backend socket).")
  add("")
  add(f"Requests: TLS = the real capture `tests/parser/testdata/clienthellos/{BASE_HELLO}.bin` "
      f"(260 bytes, SNI `{TLS_NAME}`); the backend answers 64 bytes after the whole "
      "ClientHello, the client reads them and closes. HTTP = a 96-byte `GET` with "
      "`Host` and `Connection: close`; the backend answers a 64-byte `200` and closes; "
      "the client reads until EOF. Latency = connect start to reply complete. "
      f"TCP clients come from {SOURCES} source addresses (127.0.0.2 upwards): from one "
      "address, the client-side TIME_WAIT ports cap TLS at about 14,000 conn/s. "
      f"Rounds: {b.rounds} (interleaved: every peer once per round, in turn), "
      f"{b.seconds} s measured per run after {b.warmup} s warm-up. Each cell: median "
      "(min–max); ratios are medians of per-round ratios. CPU µs/conn = CPU time of all "
      "the peer's processes (including reaped children, /proc/PID/stat) per completed "
      "connection, warm-up included; the load generator and backend are not counted.")
  add("")
  add("(`perf stat -e instructions` is not supported on this virtual machine — "
      "the counter reads `<not supported>` — so CPU time per connection stands in for "
      "an instruction count; `perf record -e cpu-clock` still works and gives the profile below.)")

  def short_table(what, title):
    add("")
    add(f"## {title}")
    add("")
    add("| peer | conc | conn/s | ×direct | ×HAProxy | p50 µs | p99 µs | p99 ×HAProxy | CPU µs/conn |")
    add("|---|---|---|---|---|---|---|---|---|")
    for conc in (1, 32):
      d = [x["rate"] for x in R[("short", what, conc, "direct")]]
      h = R[("short", what, conc, "haproxy")]
      for peer in PEERS:
        rs = R[("short", what, conc, peer)]
        rate = [x["rate"] for x in rs]
        p99 = [x["p99_us"] for x in rs]
        add(f"| {peer} | {conc} | {rng(rate, '{:.0f}')} | {fr(ratio(rate, d))} | "
            f"{fr(ratio(rate, [x['rate'] for x in h]))} | {rng([x['p50_us'] for x in rs], '{:.0f}')} | "
            f"{rng(p99, '{:.0f}')} | {fr(ratio(p99, [x['p99_us'] for x in h]))} | "
            f"{rng([x['cpu_us'] for x in rs], '{:.0f}')} |")

  short_table("tls", "Short connections, TLS (route by SNI)")
  short_table("http", "Short connections, HTTP (route by Host)")

  add("")
  add(f"## Bulk: one connection, {b.bulk_bytes >> 20} MiB each way, Gbit/s")
  add("")
  add("| peer | up (client→backend) | ×direct | ×HAProxy | down (backend→client) | ×direct | ×HAProxy |")
  add("|---|---|---|---|---|---|---|")
  for peer in PEERS:
    cells = []
    for direction in ("up", "down"):
      g = [x["gbps"] for x in R[("bulk", direction, peer)]]
      d = [x["gbps"] for x in R[("bulk", direction, "direct")]]
      h = [x["gbps"] for x in R[("bulk", direction, "haproxy")]]
      cells += [rng(g, "{:.2f}"), fr(ratio(g, d)), fr(ratio(g, h))]
    add(f"| {peer} | " + " | ".join(cells) + " |")

  add("")
  add(f"## Memory per idle connection ({b.hold} connections held after their ClientHello)")
  add("")
  add("PSS = sum of `Pss` in /proc/PID/smaps_rollup over all the peer's processes, "
      "held minus idle, per connection. Kernel = /proc/meminfo Slab + KernelStack + "
      "PageTables, held minus idle, per connection: machine-wide, so it includes the "
      "client and backend sockets (the `direct` row is that floor) and other work "
      "on the machine (noisy).")
  add("")
  add("| peer | PSS KiB/conn | kernel KiB/conn | kernel over direct | processes while held | idle PSS KiB |")
  add("|---|---|---|---|---|---|")
  dk = med([x["kernel_kib"] for x in R[("mem", "direct")]])
  for peer in PEERS:
    ms = R[("mem", peer)]
    k = med([x["kernel_kib"] for x in ms])
    add(f"| {peer} | {rng([x['pss_kib'] for x in ms], '{:.1f}') if peer != 'direct' else '—'} | "
        f"{rng([x['kernel_kib'] for x in ms], '{:.1f}')} | "
        f"{'—' if peer == 'direct' else f'{k - dk:.1f}'} | {med([x['procs'] for x in ms]):.0f} | "
        f"{med([x['base_pss'] for x in ms]):.0f} |")

  M = R[("many", "sallyport")]
  MD = R[("many", "direct")]
  b.many_total = None
  if M and MD:
    dk = med([x["kernel_kib"] for x in MD])
    tot = [x["pss_kib"] + x["kernel_kib"] - dk for x in M]
    b.many_total = med(tot)
    loaded = [x["during"] for x in M]
    unloaded = R[("many-unloaded",)]
    b.many_ratio = ratio([x["rate"] for x in loaded], [x["rate"] for x in unloaded])
    b.many_dropped = sum(x["dropped"] or 0 for x in M) + sum(x.get("errors", 0) for x in loaded)
    add("")
    add(f"### sallyport with {M[0]['count']:,} connections held")
    add("")
    add(f"{M[0]['count']:,} TLS connections opened (after their ClientHello and reply) and held "
        "idle, then a short-connection run (TLS, concurrency 32) while they stay held, against "
        "one just before without them (same round). The `direct` row holds as many straight "
        "to the backend: the kernel floor of the client and backend sockets.")
    add("")
    add("| | PSS KiB/conn | kernel KiB/conn | user + kernel over direct, KiB/conn | processes while held | opened in s | dropped |")
    add("|---|---|---|---|---|---|---|")
    add(f"| direct | — | {rng([x['kernel_kib'] for x in MD], '{:.1f}')} | — | 0 | "
        f"{rng([x['open_s'] for x in MD], '{:.1f}')} | {sum(x['dropped'] or 0 for x in MD)} |")
    add(f"| sallyport | {rng([x['pss_kib'] for x in M], '{:.2f}')} | "
        f"{rng([x['kernel_kib'] for x in M], '{:.1f}')} | {rng(tot, '{:.1f}')} | "
        f"{med([x['procs'] for x in M]):.0f} | {rng([x['open_s'] for x in M], '{:.1f}')} | "
        f"{sum(x['dropped'] or 0 for x in M)} |")
    add("")
    add("| short TLS c32 | conn/s | p99 µs | CPU µs/conn | errors |")
    add("|---|---|---|---|---|")
    add(f"| without them | {rng([x['rate'] for x in unloaded], '{:.0f}')} | "
        f"{rng([x['p99_us'] for x in unloaded], '{:.0f}')} | "
        f"{rng([x['cpu_us'] for x in unloaded], '{:.0f}')} | {sum(x.get('errors', 0) for x in unloaded)} |")
    add(f"| with {M[0]['count']:,} held | {rng([x['rate'] for x in loaded], '{:.0f}')} | "
        f"{rng([x['p99_us'] for x in loaded], '{:.0f}')} | "
        f"{rng([x['cpu_us'] for x in loaded], '{:.0f}')} | {sum(x.get('errors', 0) for x in loaded)} |")
    add("")
    add(f"With them held ÷ without, same round: conn/s {fr(b.many_ratio)}.")

  A1 = R[("acc", "sallyport")]
  A2 = R[("acc", "sallyport-2acc")]
  b.acc_ratio = ratio([x["rate"] for x in A2], [x["rate"] for x in A1])
  add("")
  add("## Acceptors")
  add("")
  add("One sallyport instance against two sharing one listening socket (inherited on fd 0; "
      "each with its own parent, zygote, waiting children and relays), TLS, concurrency 32, "
      "interleaved. Idle = the share of all CPU time no process used during the run "
      "(/proc/stat idle + iowait): what a second acceptor could still have used.")
  add("")
  add("| acceptors | conn/s | CPU µs/conn | p99 µs | machine idle |")
  add("|---|---|---|---|---|")
  for label, A in (("1", A1), ("2", A2)):
    add(f"| {label} | {rng([x['rate'] for x in A], '{:.0f}')} | "
        f"{rng([x['cpu_us'] for x in A], '{:.0f}')} | {rng([x['p99_us'] for x in A], '{:.0f}')} | "
        f"{rng([100 * x['idle'] for x in A], '{:.0f}%')} |")
  add("")
  add(f"Two ÷ one, same round: conn/s {fr(b.acc_ratio)}.")

  add("")
  add("## Growth")
  add("")
  add(f"Host directories: sallyport with 10 vs {b.many_hosts:,} directories in hosts/ "
      "(two instances, interleaved), TLS, concurrency 32.")
  add("")
  add("| hosts/ | conn/s | p50 µs | p99 µs | CPU µs/conn |")
  add("|---|---|---|---|---|")
  for peer, label in (("sallyport", "10"), ("sallyport-10k", f"{b.many_hosts:,}")):
    rs = R[("hosts", peer)]
    add(f"| {label} | {rng([x['rate'] for x in rs], '{:.0f}')} | "
        f"{rng([x['p50_us'] for x in rs], '{:.0f}')} | {rng([x['p99_us'] for x in rs], '{:.0f}')} | "
        f"{rng([x['cpu_us'] for x in rs], '{:.0f}')} |")
  a = [x["rate"] for x in R[("hosts", "sallyport-10k")]]
  bb = [x["rate"] for x in R[("hosts", "sallyport")]]
  b.hosts_ratio = ratio(a, bb)
  b.hosts_cpu_ratio = ratio([x["cpu_us"] for x in R[("hosts", "sallyport-10k")]],
                            [x["cpu_us"] for x in R[("hosts", "sallyport")]])
  add("")
  add(f"With {b.many_hosts:,} dirs ÷ with 10, same round: conn/s {fr(b.hosts_ratio)}, "
      f"CPU µs/conn {fr(b.hosts_cpu_ratio)} (CPU per connection is the steadier measure "
      "on a shared machine).")
  add("")
  add("ClientHello size: the same capture with its SNI rewritten and a padding "
      "extension (RFC 7685) added, 300 bytes vs one 16 KiB record (16389 bytes), "
      "concurrency 32. A failed cell names the first error.")
  add("")
  add("| peer | 300 B conn/s | 300 B CPU µs/conn | 16 KiB conn/s | 16 KiB CPU µs/conn | 16K ÷ 300 conn/s |")
  add("|---|---|---|---|---|---|")
  for peer in PEERS:
    s = R[("hello", "pad300", peer)]
    l = R[("hello", "pad16k", peer)]
    failed = [x.get("failed") for x in l if x.get("failed")]
    if failed:
      big = f"fails: {failed[0]}"
      bigcpu = "—"
      rr = "—"
    else:
      big = rng([x["rate"] for x in l], "{:.0f}")
      bigcpu = rng([x["cpu_us"] for x in l], "{:.0f}")
      rr = fr(ratio([x["rate"] for x in l], [x["rate"] for x in s]))
    add(f"| {peer} | {rng([x['rate'] for x in s], '{:.0f}')} | "
        f"{rng([x['cpu_us'] for x in s], '{:.0f}')} | {big} | {bigcpu} | {rr} |")

  add("")
  add("## sallyport: where the time goes")
  add("")
  own, reaped, helpers = b.sp_split
  n = b.sp_accepted
  if n:
    add(f"Over the whole run the TLS instance served {n:,} connections, per connection: "
        f"parent (accept, hand-off, route broker, reap, log) {own * 1e6 / n:.0f} µs CPU; "
        f"reaped processes (each connection's child: lockdown, parse, replay, exit; and "
        f"replaced zygotes) {reaped * 1e6 / n:.0f} µs; the live zygote "
        f"{helpers.get('sallyport-zygote', 0) * 1e6 / n:.0f} µs (its forks since it "
        f"started: it is replaced every --zygote-max-children); the relays "
        f"{helpers.get('sallyport-relay', 0) * 1e6 / n:.0f} µs.")
  fs = [x["fork_exit_wait_us"] for x in R[("fork", "small")]]
  add("")
  add(f"sallyport's parent has {b.sp_maps} mappings and "
      + (f"{b.nlibs} shared objects." if b.nlibs else "no shared objects (static)."))
  add(f"Fork floor (`//bench:forkcost`, fork + `_exit(0)` + waitpid in a loop): a small "
      f"dynamic image ({R[('fork', 'small')][0]['maps']} mappings) {rng(fs, '{:.0f}')} µs"
      + ("" if not b.nlibs else
         f"; the same with sallyport's {b.nlibs} shared objects preloaded "
         f"({R[('fork', 'sallyport-libs')][0]['maps']} mappings) "
         f"{rng([x['fork_exit_wait_us'] for x in R[('fork', 'sallyport-libs')]], '{:.0f}')} µs")
      + f". HAProxy spends "
      f"{rng([x['cpu_us'] for x in R[('short', 'tls', 32, 'haproxy')]], '{:.0f}')} "
      "µs of CPU on a whole TLS connection.")
  st = R[("fork", "static")]
  floor = [x["fork_cpu_us"] + 1e6 / x["handoffs_per_s"] for x in st]
  add("")
  add(f"Fork-server floor (`//bench:forkcost_static`, a minimal static-pie process, "
      f"{st[0]['maps']} mappings): fork + `_exit(0)` + waitpid "
      f"{rng([x['fork_cpu_us'] for x in st], '{:.0f}')} µs of CPU; one SCM_RIGHTS hand-off "
      f"of a descriptor to a waiting process {rng([1e6 / x['handoffs_per_s'] for x in st], '{:.1f}')} "
      f"µs ({rng([x['handoffs_per_s'] for x in st], '{:.0f}')} descriptors/s with 64 in "
      f"flight; {rng([x['scm_pass_us'] for x in st], '{:.0f}')} µs wall for one round trip, "
      f"which is wake-up latency); floor {rng(floor, '{:.0f}')} µs per connection.")
  ho = R[("handoff",)]
  b.handoff_rate = med([x["handoffs_per_s"] for x in ho])
  add("")
  add(f"The hand-off alone with sallyport's own code (`//bench:handoff_rate`: the parent's "
      f"`SendConnection` to pre-forked processes blocked in the waiting child's "
      f"`ReceiveConnection`, one SOCK_SEQPACKET channel each, 256 per round, until each has "
      f"received, closed and acknowledged its descriptor): "
      f"{rng([x['handoffs_per_s'] for x in ho], '{:.0f}')} connections/s.")
  if b.perf:
    P = b.perf
    cpu = b.profile_run.get("cpu_us") or 0
    add("")
    add(f"`perf record -e cpu-clock -a -g` during one sallyport TLS c32 run "
        f"({b.profile_run['rate']:.0f} conn/s, {cpu:.0f} µs CPU/conn); processes named "
        f"sallyport (parent and children) took {P['share']}% of all samples. Inclusive "
        "share of sallyport's samples by kernel/user entry point (call-graph children; "
        "entries overlap where one calls another):")
    add("")
    add("| cost | symbol | share of sallyport CPU | ≈ µs/conn |")
    add("|---|---|---|---|")
    cats = [("fork (copy mm: VMAs, page tables)", "kernel_clone|__do_sys_clone|copy_process"),
            ("  of which dup_mmap", "dup_mmap"),
            ("exit (tear down mm, files)", "do_exit"),
            ("page faults after fork", "asm_exc_page_fault|exc_page_fault|handle_mm_fault"),
            ("  of which copy-on-write", "do_wp_page"),
            ("seccomp filter load (per child, incl. BPF JIT)", "do_seccomp"),
            ("rlimits", "__do_sys_prlimit64"),
            ("reaping (wait4)", "kernel_wait4"),
            ("accept", "__sys_accept4|__x64_sys_accept4|do_accept"),
            ("connect to the backend", "__sys_connect|__x64_sys_connect|unix_stream_connect"),
            ("splice relay", "__x64_sys_splice"),
            ("poll", "__x64_sys_poll"),
            ("pipes for splice", "__x64_sys_pipe2"),
            ("shutdown", "__x64_sys_shutdown"),
            ("socket release (close)", "sock_close|__fput|__x64_sys_close"),
            ("TLS parse (ClientHelloReader::Feed)", "sallyport::parser::ClientHelloReader::Feed"),
            ("route (DecideRoute)", "sallyport::policy::DecideRoute"),
            ("lazy symbol binding in children (_dl_fixup)", "_dl_fixup"),
            ("child lockdown (LockdownChild: rlimits, filter, fds)",
             "sallyport::sandbox::LockdownChild"),
            ("child session (ServeConnection: read, parse, route, connect, relay)",
             "sallyport::proxy::ServeConnection"),
            ("reap + log line (ReapChildren)",
             "sallyport::proxy::(anonymous namespace)::Server::ReapChildren")]
    share = P["share"] or 0
    for label, syms in cats:
      v, sym = None, syms
      for cand in syms.split("|"):
        if P["incl"].get(cand) is not None:
          v, sym = P["incl"][cand], cand
          break
      if v is None:
        add(f"| {label} | `{sym}` | not sampled | — |")
        continue
      frac = v / share if share else 0
      add(f"| {label} | `{sym}` | {100 * frac:.1f}% | {frac * cpu:.0f} |")
    add("")
    add("(User-space call chains are partial: the binary has no frame pointers, so the "
        "user entries undercount; kernel entries are more reliable, and a symbol the sampler missed in one run shows as \"not sampled\".)")
    add("")
    add("Hottest symbols (self time) in sallyport processes, % of all samples:")
    add("")
    add("```")
    L.extend(P["hot"])
    add("```")

  add("")
  add("## Targets")
  add("")
  t = targets(b)
  for line in t:
    add(f"- {line}")
  add("")
  add("## Notes")
  add("")
  add(f"- sallyport connections not relayed (logged with another outcome): {b.sp_unrelayed}. "
      "Expected ones: the readiness probe of each instance (closed before the handshake) "
      "and connections the load generator abandons when a timed run ends (reset).")
  add("- The direct limit talks to a Unix socket: no TCP at all. Every proxy adds a TCP "
      "loopback leg (client side) to the Unix-socket leg, so for bulk the TCP stack alone "
      "keeps every peer far below `direct`; compare the proxies with each other.")
  add("- A 16 KiB ClientHello (one 16384-byte record) exceeds HAProxy's default buffer "
      "(`tune.bufsize` 16384 minus `tune.maxrewrite`), nginx's `preread_buffer_size` "
      "(16k) and sniproxy's buffer; with the defaults they cannot route it. Raising "
      "those settings would, at a memory cost per connection.")
  for nline in b.notes:
    add(f"- {nline}")
  analysis = os.path.join(HERE, "analysis.md")
  if os.path.exists(analysis):
    add("")
    add("<!-- bench/analysis.md, hand-written, included verbatim: -->")
    with open(analysis) as f:
      L.append(f.read().rstrip())
  with open(path, "w") as f:
    f.write("\n".join(L) + "\n")


def targets(b):
  """Issue 12's targets (the fork-server redesign), then the older ones."""
  R = b.results
  out = []

  def verdict(ok):
    return "**met**" if ok else "**missed**"

  st = R[("fork", "static")]
  floor = med([x["fork_cpu_us"] + 1e6 / x["handoffs_per_s"] for x in st])
  cpu = med([x["cpu_us"] for x in R[("short", "tls", 32, "sallyport")]])
  if floor and cpu:
    out.append(f"CPU per TLS connection at concurrency 32 ≤ 1.5× the fork-server floor: "
               f"{cpu:.0f} µs = {cpu / floor:.2f}× the floor ({floor:.0f} µs) — "
               f"{verdict(cpu <= 1.5 * floor)}")
  for what in ("tls", "http"):
    for conc, goal in ((32, 0.5), (1, 0.7)):
      rate = [x["rate"] for x in R[("short", what, conc, "sallyport")]]
      h = [x["rate"] for x in R[("short", what, conc, "haproxy")]]
      r = ratio(rate, h)
      out.append(f"{what.upper()} conn/s at concurrency {conc} ≥ {goal}× HAProxy: {fr(r)} — "
                 f"{verdict(r is not None and r >= goal)}")
    for conc in (1, 32):
      p = [x["p99_us"] for x in R[("short", what, conc, "sallyport")]]
      hp = [x["p99_us"] for x in R[("short", what, conc, "haproxy")]]
      r = ratio(p, hp)
      out.append(f"{what.upper()} p99 ≤ 1.5× HAProxy's at concurrency {conc}: {fr(r)} — "
                 f"{verdict(r is not None and r <= 1.5)}")
  if getattr(b, "many_total", None) is not None:
    n = R[("many", "sallyport")][0]["count"]
    out.append(f"memory per held idle routed connection ≤ 16 KiB (PSS + kernel over direct, "
               f"{n:,} held): {b.many_total:.1f} KiB — {verdict(b.many_total <= 16)}")
    out.append(f"with {n:,} held, short-connection rate at concurrency 32 ≥ 0.8× unloaded and "
               f"nothing dropped: {fr(b.many_ratio)}, {b.many_dropped} dropped or failed — "
               f"{verdict(b.many_ratio is not None and b.many_ratio >= 0.8 and b.many_dropped == 0)}")
  for direction, goal in (("up", 2.0), ("down", 1.0)):
    g = [x["gbps"] for x in R[("bulk", direction, "sallyport")]]
    r = ratio(g, [x["gbps"] for x in R[("bulk", direction, "haproxy")]])
    out.append(f"bulk {direction} ≥ {goal}× HAProxy: {fr(r)} — {verdict(r is not None and r >= goal)}")
  hr = getattr(b, "handoff_rate", None)
  if hr:
    out.append(f"the hand-off alone ≥ 50,000 descriptors/s: {hr:,.0f}/s — {verdict(hr >= 50000)}")
  if b.acc_ratio is not None:
    idle = med([x["idle"] for x in R[("acc", "sallyport")]])
    out.append(f"two acceptors on 2 cores ≥ 1.6× one: {fr(b.acc_ratio)} — "
               f"{verdict(b.acc_ratio >= 1.6)} (the machine was {100 * idle:.0f}% idle with one; "
               "see Acceptors)")
  for direction in ("up", "down"):
    g = [x["gbps"] for x in R[("bulk", direction, "sallyport")]]
    worst = min(ratio(g, [x["gbps"] for x in R[("bulk", direction, p)]]) for p in PROXIES[1:])
    out.append(f"(earlier) bulk {direction} ≥ every peer: lowest ratio to a peer {fr(worst)} — "
               f"{verdict(worst >= 1.0)}")
  pss = med([x["pss_kib"] for x in R[("mem", "sallyport")]])
  out.append(f"(earlier) ≤ 64 KiB PSS per idle connection: {pss:.1f} KiB — {verdict(pss <= 64)}")
  hr = b.hosts_cpu_ratio
  out.append(f"(earlier) flat cost from 10 to {b.many_hosts:,} host dirs (CPU µs/conn within ±10%): "
             f"{fr(hr)} (conn/s {fr(b.hosts_ratio)}) — "
             f"{verdict(hr is not None and abs(hr - 1) <= 0.10)}")
  return out


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--smoke", action="store_true")
  ap.add_argument("--rounds", type=int, default=5)
  ap.add_argument("--seconds", type=float, default=2.0)
  ap.add_argument("--out", default=None)
  ap.add_argument("--keep", action="store_true", help="keep the work dir after a failure")
  ap.add_argument("--sallyport", default=None, help="another sallyport binary to measure")
  args = ap.parse_args()
  if os.geteuid() != 0:
    print("bench: must run as root (sallyport --user=nobody, PSS of other users)", file=sys.stderr)
    return 2
  if args.sallyport:
    global SALLYPORT
    SALLYPORT = os.path.abspath(args.sallyport)
  out = args.out or ("/tmp/sallyport-bench-smoke.md" if args.smoke
                     else os.path.join(HERE, "RESULTS.md"))
  b = Bench(args)
  rc = 0
  try:
    b.run()
    report(b, out)
    log(f"wrote {out} ({b.elapsed:.0f} s)")
  except StageError as e:
    log(f"FAILED: {e}")
    rc = 1
  finally:
    b.close(keep=rc != 0 and args.keep)
  left = [n for n, p in b.procs.procs.items() if p.poll() is None]
  if left:
    log(f"left running: {left}")
    rc = 1
  return rc


if __name__ == "__main__":
  sys.exit(main())
