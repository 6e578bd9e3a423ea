# SPDX-License-Identifier: Apache-2.0
"""End-to-end harness for the sallyport binary (tests/proxy/*_e2e_test.py).

Runs the real binary as root with --user=nobody against real backends on
Unix sockets in a throwaway hosts directory, and real clients (openssl,
curl, gnutls-cli, raw sockets) on 127.0.0.1 / [::1].

  ws = Workspace()                      # /tmp/sp-e2e-XXXX/{hosts,certs,...}
  d = ws.host_dir("a.example.test")
  be = Backend(os.path.join(d, "tls-socket"), Backend.record)
  sp = Sallyport(ws, "tls")             # waits for the `started` line
  reply = exchange(sp.port, client_hello("a.example.test") + b"hi")
  sp.wait_connection(host="a.example.test")
  self.assertEqual(sp.stop(), 0)
  ws.close()                            # kills every process it started

Everything has a bounded timeout; readiness is polled (socket connectable,
log line seen), never slept for. Python 3 standard library only.
"""

import errno
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import unittest
import time

TIMEOUT = 15.0  # default bound for any single wait

ALERT_UNRECOGNIZED_NAME = 112
ALERT_INTERNAL_ERROR = 80


def alert_record(code):
  """The fatal alert record sallyport sends: 21, 3.3, length 2, fatal, code."""
  return bytes([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, code])


# --- locating files -----------------------------------------------------------

def _runfile(rel):
  candidates = [os.path.join(os.getcwd(), rel)]
  srcdir = os.environ.get("TEST_SRCDIR")
  if srcdir:
    candidates.append(os.path.join(srcdir, "sallyport", rel))
  # Manual runs from the workspace: python3 tests/proxy/x_test.py
  here = os.path.dirname(os.path.abspath(__file__))
  candidates.append(os.path.join(here, "..", "..", "bazel-bin", rel))
  candidates.append(os.path.join(here, "..", "..", rel))
  for c in candidates:
    if os.path.exists(c):
      return os.path.abspath(c)
  raise FileNotFoundError(f"{rel} not found (looked in {candidates})")


def binary():
  return os.environ.get("SALLYPORT_BIN") or _runfile("proxy/sallyport")


def testhooks_binary():
  """//proxy:sallyport_testhooks: the binary plus the crash-on-demand hook
  (proxy/test_hooks.h): a child serving sigsys.crash.test makes a forbidden
  syscall, one serving segv.crash.test a null store. Needs the target in
  the test's data."""
  return _runfile("proxy/sallyport_testhooks")


def clienthellos_dir():
  return _runfile("tests/parser/testdata/clienthellos")


# --- waiting ------------------------------------------------------------------

def wait_until(pred, timeout=TIMEOUT, what="condition", interval=0.005):
  deadline = time.monotonic() + timeout
  while True:
    v = pred()
    if v:
      return v
    if time.monotonic() > deadline:
      raise AssertionError(f"timed out after {timeout}s waiting for {what}")
    time.sleep(interval)


def unix_connectable(path):
  s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
  try:
    s.settimeout(1)
    d, base = os.path.split(path)
    # connect via /proc/self/fd to stay under sun_path's 108 bytes
    fd = os.open(d, os.O_PATH | os.O_DIRECTORY)
    try:
      s.connect(f"/proc/self/fd/{fd}/{base}")
    finally:
      os.close(fd)
    return True
  except OSError:
    return False
  finally:
    s.close()


# --- users --------------------------------------------------------------------

def uid_of(user):
  import pwd
  return pwd.getpwnam(user).pw_uid


# An interpreter other uids can execute (sys.executable may live under /root).
USER_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def run_as(uid, code, *args, cwd=None, timeout=TIMEOUT):
  """Runs a Python snippet as `uid` (gid = uid) and returns its stdout."""
  r = subprocess.run([USER_PYTHON, "-c", code, *args], cwd=cwd,
                     user=uid, group=uid, extra_groups=[],
                     capture_output=True, text=True, timeout=timeout)
  if r.returncode != 0:
    raise AssertionError(f"run_as({uid}) failed: {r.stderr}")
  return r.stdout


def as_uid_kwargs(uid):
  """subprocess keyword arguments that run a process as `uid` (its passwd
  group, or gid = uid without one; no supplementary groups); {} for None."""
  if uid is None:
    return {}
  import pwd
  try:
    gid = pwd.getpwuid(uid).pw_gid
  except KeyError:
    gid = uid
  return dict(user=uid, group=gid, extra_groups=[])


# --- the workspace --------------------------------------------------------------

class Workspace:
  """A temp dir with hosts/, certs/ and the processes started for a test."""

  def __init__(self, hosts_mode=0o755):
    self.root = tempfile.mkdtemp(prefix="sp-e2e-", dir="/tmp")
    os.chmod(self.root, 0o755)  # nobody must traverse to reach hosts/
    self.hosts = os.path.join(self.root, "hosts")
    os.mkdir(self.hosts)
    os.chmod(self.hosts, hosts_mode)
    self.certs = os.path.join(self.root, "certs")
    os.mkdir(self.certs)
    os.chmod(self.certs, 0o755)
    self._procs = []
    self._closers = []
    self.servers = []  # sallyport instances started here (Sallyport adds itself)
    self._seq = 0

  def path(self, *parts):
    return os.path.join(self.hosts, *parts)

  def host_dir(self, name, uid=None, mode=0o755):
    d = self.path(name)
    os.mkdir(d)
    os.chmod(d, mode)
    if uid is not None:
      os.chown(d, uid, uid)
    return d

  def cert(self, cn):
    """A self-signed P-256 certificate with subject CN=cn: (crt, key)."""
    self._seq += 1
    crt = os.path.join(self.certs, f"{self._seq}.crt")
    key = os.path.join(self.certs, f"{self._seq}.key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
         "-subj", f"/CN={cn}", "-keyout", key, "-out", crt],
        check=True, capture_output=True, timeout=TIMEOUT)
    os.chmod(crt, 0o644)
    os.chmod(key, 0o644)  # throwaway; backends may run as other uids
    return crt, key

  def spawn(self, args, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("stdout", subprocess.DEVNULL)
    kw.setdefault("stderr", subprocess.DEVNULL)
    p = subprocess.Popen(args, **kw)
    self._procs.append(p)
    return p

  def on_close(self, fn):
    self._closers.append(fn)

  def world_binary(self, exe=None):
    """A copy of `exe` (default: the binary under test) that every uid can
    execute (mode 0755 in root)."""
    exe = exe or binary()
    path = os.path.join(self.root, os.path.basename(exe))
    if not os.path.exists(path):
      shutil.copy(exe, path)
      os.chmod(path, 0o755)
    return path

  def tmp_socket_path(self):
    self._seq += 1
    return os.path.join(self.root, f"s{self._seq}")

  def close(self):
    for fn in reversed(self._closers):
      try:
        fn()
      except Exception:  # cleanup must go on
        pass
    for p in self._procs:
      if p.poll() is None:
        p.kill()
    for p in self._procs:
      try:
        p.wait(timeout=5)
      except subprocess.TimeoutExpired:
        pass
    shutil.rmtree(self.root, ignore_errors=True)


# --- backends -------------------------------------------------------------------

def openssl_backend(ws, host_dir, cn, uid=None, socket_name="tls-socket"):
  """openssl s_server -www on host_dir/socket_name with a cert for CN=cn.

  Started with cwd=host_dir and a relative name (s_server cannot take paths
  of 32+ characters). Returns the Popen once the socket accepts.
  """
  crt, key = ws.cert(cn)
  sock = os.path.join(host_dir, socket_name)
  if os.path.lexists(sock):
    os.unlink(sock)
  kw = {}
  if uid is not None:
    kw = dict(user=uid, group=uid, extra_groups=[])
  p = ws.spawn(["openssl", "s_server", "-unix", socket_name, "-cert", crt,
                "-key", key, "-www", "-quiet", "-naccept", "1000000"],
               cwd=host_dir, umask=0, **kw)
  wait_until(lambda: p.poll() is not None or unix_connectable(sock),
             what=f"s_server on {sock}")
  if p.poll() is not None:
    raise AssertionError(f"s_server for {cn} exited: {p.returncode}")
  return p


BANNER_SERVER = r"""
import os, socket, sys, threading
name, banner = sys.argv[1], sys.argv[2].encode()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
os.umask(0)
s.bind(name)
s.listen(128)
print("ready", flush=True)
def serve(c):
  try:
    c.sendall(banner + b"\n")
    while c.recv(65536):
      pass
  except OSError:
    pass
  finally:
    c.close()
while True:
  c, _ = s.accept()
  threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


def banner_backend(ws, host_dir, banner, uid=None, socket_name="tls-socket"):
  """A backend process (as `uid`) that greets every connection with
  `banner`\\n, then reads until EOF. Returns the Popen once it listens."""
  sock = os.path.join(host_dir, socket_name)
  kw = {}
  if uid is not None:
    kw = dict(user=uid, group=uid, extra_groups=[])
  p = ws.spawn([USER_PYTHON, "-c", BANNER_SERVER, socket_name, banner],
               cwd=host_dir, stdout=subprocess.PIPE, **kw)
  line = p.stdout.readline()
  if line.strip() != b"ready":
    raise AssertionError(f"banner backend {banner} did not start")
  wait_until(lambda: unix_connectable(sock), what=f"banner backend {sock}")
  return p


class Conn:
  """One connection a Backend accepted."""

  def __init__(self, sock):
    self.sock = sock
    self.received = bytearray()
    self.done = threading.Event()
    self.error = None


class Backend:
  """A threaded Unix-socket server in this process (so it listens as root).

  `handler(conn)` runs in a thread per connection; the socket is closed
  after it returns. The socket file is chmod 666 so nobody can connect.
  Binding happens at a short temp path, then the socket is renamed into
  place: any path length works (sun_path holds 108 bytes).
  """

  def __init__(self, ws, path, handler=None, backlog=512):
    self.path = path
    self.handler = handler or Backend.record
    self.conns = []
    self._lock = threading.Lock()
    self._cond = threading.Condition(self._lock)
    tmp = ws.tmp_socket_path()
    self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    self.sock.bind(tmp)
    os.chmod(tmp, 0o666)
    self.sock.listen(backlog)
    os.rename(tmp, path)
    self._stopped = False
    self._thread = threading.Thread(target=self._accept_loop, daemon=True)
    self._thread.start()
    ws.on_close(self.stop)

  def _accept_loop(self):
    while True:
      try:
        s, _ = self.sock.accept()
      except OSError:
        return
      c = Conn(s)
      with self._cond:
        self.conns.append(c)
        self._cond.notify_all()
      threading.Thread(target=self._run, args=(c,), daemon=True).start()

  def _run(self, c):
    try:
      c.sock.settimeout(60)
      self.handler(c)
    except OSError as e:
      c.error = e
    finally:
      c.sock.close()
      c.done.set()
      with self._cond:
        self._cond.notify_all()

  def wait_conns(self, n, timeout=TIMEOUT):
    with self._cond:
      ok = self._cond.wait_for(lambda: len(self.conns) >= n, timeout)
    if not ok:
      raise AssertionError(f"backend {self.path}: {len(self.conns)} < {n} connections")
    return self.conns[:n]

  def stop(self):
    if not self._stopped:
      self._stopped = True
      try:
        self.sock.shutdown(socket.SHUT_RDWR)
      except OSError:
        pass
      self.sock.close()

  # --- handlers ---
  @staticmethod
  def record(c):
    """Records every byte until EOF."""
    while True:
      b = c.sock.recv(1 << 16)
      if not b:
        return
      c.received += b

  @staticmethod
  def greet(banner):
    """Sends banner\\n at once, then records until EOF."""
    def h(c):
      c.sock.sendall(banner.encode() + b"\n")
      Backend.record(c)
    return h

  @staticmethod
  def http(name):
    """Reads one request head; answers 200 with body "<name> <request line>"."""
    def h(c):
      while b"\r\n\r\n" not in c.received:
        b = c.sock.recv(1 << 16)
        if not b:
          return
        c.received += b
      line = bytes(c.received).split(b"\r\n", 1)[0].decode("latin-1")
      body = f"{name} {line}\n".encode()
      c.sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                     b"Content-Length: " + str(len(body)).encode() +
                     b"\r\nConnection: close\r\n\r\n" + body)
      c.sock.shutdown(socket.SHUT_WR)
      while c.sock.recv(1 << 16):
        pass
    return h


def dead_socket(path):
  """A socket file with no listener behind it (connect: ECONNREFUSED)."""
  s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
  d, base = os.path.split(path)
  fd = os.open(d, os.O_PATH | os.O_DIRECTORY)
  try:
    s.bind(f"/proc/self/fd/{fd}/{base}")
  finally:
    os.close(fd)
  os.chmod(path, 0o666)
  s.close()


# --- sallyport ------------------------------------------------------------------

def free_port(family=socket.AF_INET, host="127.0.0.1"):
  s = socket.socket(family, socket.SOCK_STREAM)
  s.bind((host, 0))
  port = s.getsockname()[1]
  s.close()
  return port


_TEXT_FIELD = re.compile(r'([A-Za-z_]+)=("(?:[^"\\]|\\.)*"|\S+)')


def parse_text_line(line):
  """A text log line "TIME EVENT k=v k="q" ..." as a dict (like the JSON
  form: numbers as int/float, quoted strings unescaped), or None."""
  parts = line.split(" ", 2)
  if len(parts) < 2 or not re.match(r"\d{4}-\d\d-\d\dT", parts[0]):
    return None
  rec = {"time": parts[0], "event": parts[1]}
  rest = parts[2] if len(parts) > 2 else ""
  pos = 0
  for m in _TEXT_FIELD.finditer(rest):
    if rest[pos:m.start()].strip():
      return None  # something that is not a field
    pos = m.end()
    k, v = m.group(1), m.group(2)
    if v.startswith('"'):
      v = re.sub(r"\\(.)", r"\1", v[1:-1])
    else:
      try:
        v = int(v)
      except ValueError:
        try:
          v = float(v)
        except ValueError:
          pass
    rec[k] = v
  if rest[pos:].strip():
    return None
  return rec


class Sallyport:
  """The binary under test, with its JSON log lines parsed as they arrive."""

  def __init__(self, ws, proto, *flags, listen="127.0.0.1", user="nobody",
               stdin=None, wait_started=True, log_format="json", wrapper=(),
               run_as_uid=None, exe=None):
    # run_as_uid: start the process as that uid (gid = its passwd group, no
    # supplementary groups) instead of root; pass user=None with it to test
    # the unprivileged modes. The binary is copied into the workspace first:
    # Bazel's output tree under /root is not reachable by other uids.
    self.ws = ws
    self.proto = proto
    self.lines = []     # raw stderr lines
    self.records = []   # parsed JSON objects
    self._cond = threading.Condition()
    self._eof = False
    self.host = listen
    family = socket.AF_INET6 if listen and ":" in listen else socket.AF_INET
    for attempt in range(5):
      # `wrapper` execs the binary (e.g. prlimit --nofile=N --): same pid.
      path = (exe or binary()) if run_as_uid is None else ws.world_binary(exe)
      args = list(wrapper) + [path, proto, f"--hosts={ws.hosts}",
                              f"--log-format={log_format}"]
      if user:
        args.append(f"--user={user}")
      if listen:
        self.port = free_port(family, listen)
        bracket = f"[{listen}]" if family == socket.AF_INET6 else listen
        args.append(f"--listen={bracket}:{self.port}")
      args += list(flags)
      if not any(f.startswith(("--rate-per-ip", "--rate_per_ip")) for f in flags):
        args.append("--rate-per-ip=100000")  # tests connect in bursts
      if not any(f.startswith("--relays") for f in flags):
        # One relay whatever this machine's descriptor limit would make of
        # the automatic count (flags_e2e_test checks that count).
        args.append("--relays=1")
      self.proc = ws.spawn(args, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                           stderr=subprocess.PIPE, **as_uid_kwargs(run_as_uid))
      self.lines, self.records, self._eof = [], [], False
      self._reader = threading.Thread(target=self._read, daemon=True)
      self._reader.start()
      if not wait_started:
        return
      self.wait_for(lambda r: r.get("event") == "started" or self._eof,
                    what="started line", any_line=True)
      if self.started():
        ws.on_close(self.kill)
        ws.servers.append(self)
        return
      self.proc.wait(timeout=TIMEOUT)
      if "Address already in use" not in self.stderr_text():
        raise AssertionError(f"sallyport did not start: {self.stderr_text()}")
    raise AssertionError("no free port after 5 attempts")

  def _read(self):
    for raw in self.proc.stderr:
      line = raw.decode("utf-8", "replace").rstrip("\n")
      rec = None
      if line.startswith("{"):
        try:
          rec = json.loads(line)
        except ValueError:
          rec = None
      else:
        rec = parse_text_line(line)
      with self._cond:
        self.lines.append(line)
        if rec is not None:
          self.records.append(rec)
        self._cond.notify_all()
    with self._cond:
      self._eof = True
      self._cond.notify_all()

  def started(self):
    return any(r.get("event") == "started" for r in self.records)

  def stderr_text(self):
    with self._cond:
      return "\n".join(self.lines)

  def wait_for(self, pred, timeout=TIMEOUT, what="log record", any_line=False):
    """The first record satisfying pred (waits for it)."""
    found = []

    def check():
      for r in self.records:
        if pred(r):
          found.append(r)
          return True
      return any_line and self._eof

    with self._cond:
      if not self._cond.wait_for(check, timeout):
        raise AssertionError(f"timed out waiting for {what}; log:\n" +
                             "\n".join(self.lines[-30:]))
    return found[0] if found else None

  def events(self, event, **fields):
    with self._cond:
      return [r for r in self.records if r.get("event") == event and
              all(r.get(k) == v for k, v in fields.items())]

  def wait_event(self, event, count=1, timeout=TIMEOUT, **fields):
    """Waits until `count` records of `event` with these fields exist."""
    with self._cond:
      ok = self._cond.wait_for(lambda: len([
          r for r in self.records if r.get("event") == event and
          all(r.get(k) == v for k, v in fields.items())]) >= count, timeout)
      if not ok:
        raise AssertionError(f"timed out waiting for {count} x {event} {fields}; log:\n" +
                             "\n".join(self.lines[-30:]))
    return self.events(event, **fields)[:count]

  def wait_connection(self, timeout=TIMEOUT, **fields):
    return self.wait_event("connection", 1, timeout, **fields)[0]

  def children(self):
    """pids of sallyport's children that hold a connection: those holding
    a TCP socket (the client's). Waiting children (pre-forked, --prefork)
    hold only Unix sockets and pipes and are not counted; the relay is
    counted while it holds any routed connection; all_children() lists
    every child."""
    tcp = _tcp_socket_inodes()
    out = []
    for pid in self.all_children():
      try:
        links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
      except OSError:
        continue  # it has just exited
      if any(l.startswith("socket:[") and l[8:-1] in tcp for l in links):
        out.append(pid)
    return out

  def named(self, argv0):
    """pids of children whose argv[0] is `argv0` (sallyport-zygote,
    sallyport-relay, sallyport-child)."""
    return [p for p in self.all_children() if proc_cmdline(p) == argv0]

  def all_children(self):
    """pids of processes whose parent is sallyport."""
    out = []
    for d in os.listdir("/proc"):
      if not d.isdigit():
        continue
      try:
        with open(f"/proc/{d}/stat") as f:
          stat = f.read()
      except OSError:
        continue
      fields = stat[stat.rindex(")") + 2:].split()
      if int(fields[1]) == self.proc.pid:
        out.append(int(d))
    return out

  def connect(self, source=None, timeout=TIMEOUT):
    return connect(self.port, self.host, source=source, timeout=timeout)

  def stop(self, sig=signal.SIGTERM, timeout=TIMEOUT):
    """Signals sallyport, waits for it to exit; returns the exit status."""
    if self.proc.poll() is None:
      self.proc.send_signal(sig)
    rc = self.proc.wait(timeout=timeout)
    self._reader.join(timeout=5)
    self.proc.stderr.close()
    if os.environ.get("SP_E2E_DUMP"):  # debugging aid: show the whole log
      sys.stderr.write(self.stderr_text() + "\n")
    return rc

  def kill(self):
    if self.proc.poll() is None:
      self.proc.kill()
      self.proc.wait(timeout=5)
    self._reader.join(timeout=5)
    if not self.proc.stderr.closed:
      self.proc.stderr.close()


def proc_cmdline(pid):
  try:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
      return f.read().split(b"\0")[0].decode()
  except OSError:
    return None


def proc_status(pid):
  out = {}
  with open(f"/proc/{pid}/status") as f:
    for line in f:
      k, _, v = line.partition(":")
      out[k] = v.strip()
  return out


def proc_fds(pid):
  """{fd: readlink target} of a process."""
  return {int(fd): os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}


def assert_confined(tc, pid, filters, user="nobody"):
  """What every sallyport process after lockdown shows in /proc: seccomp
  filter mode with `filters` stacked, no_new_privs, no capabilities, the
  unprivileged uid, no signal blocked, SIGPIPE ignored (other ignored
  signals may come from whoever started sallyport: not checked)."""
  st = proc_status(pid)
  tc.assertEqual(st["Seccomp"], "2", pid)
  tc.assertEqual(st["NoNewPrivs"], "1", pid)
  tc.assertEqual(int(st["CapEff"], 16), 0, pid)
  tc.assertEqual(int(st["CapPrm"], 16), 0, pid)
  tc.assertEqual([int(u) for u in st["Uid"].split()], [uid_of(user)] * 4, pid)
  tc.assertEqual(int(st["SigBlk"], 16), 0, pid)
  tc.assertTrue(int(st["SigIgn"], 16) & (1 << (signal.SIGPIPE - 1)), pid)
  if "Seccomp_filters" in st:  # Linux 5.9+
    tc.assertEqual(int(st["Seccomp_filters"]), filters, pid)


def _tcp_socket_inodes():
  """Inodes of every TCP socket in this network namespace (an accepted
  connection belongs to its listener's namespace, not sallyport's own)."""
  inodes = set()
  for path in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
      with open(path) as f:
        next(f)
        for line in f:
          inodes.add(line.split()[9])
    except OSError:
      pass
  return inodes


# --- clients --------------------------------------------------------------------

def connect(port, host="127.0.0.1", source=None, timeout=TIMEOUT):
  family = socket.AF_INET6 if ":" in host else socket.AF_INET
  s = socket.socket(family, socket.SOCK_STREAM)
  try:
    s.settimeout(timeout)
    if source:
      s.bind((source, 0))
    s.connect((host, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
  except BaseException:
    s.close()
    raise
  return s


def read_to_eof(s, limit=1 << 24):
  out = bytearray()
  while len(out) < limit:
    try:
      b = s.recv(1 << 16)
    except ConnectionResetError:
      break
    if not b:
      break
    out += b
  return bytes(out)


def read_line(s):
  out = bytearray()
  while not out.endswith(b"\n"):
    b = s.recv(1)
    if not b:
      break
    out += b
  return bytes(out)


def exchange(port, data, host="127.0.0.1", source=None, timeout=TIMEOUT):
  """Connects, sends data, half-closes, returns everything read until EOF."""
  s = connect(port, host, source, timeout)
  try:
    s.sendall(data)
    try:
      s.shutdown(socket.SHUT_WR)
    except OSError:
      pass
    return read_to_eof(s)
  finally:
    s.close()


def fragment(record, size):
  """Re-cuts a one-record handshake into records of at most `size` bytes."""
  hs = record[5:]
  return b"".join(record[:3] + struct.pack(">H", len(hs[i:i + size])) + hs[i:i + size]
                  for i in range(0, len(hs), size))


def client_hello(sni, extensions=b"", record_version=b"\x03\x01", before=b""):
  """A minimal TLS 1.2-style ClientHello record (one record) with SNI;
  `before` are extensions placed ahead of server_name, `extensions` after."""
  body = b"\x03\x03" + os.urandom(32) + b"\x00"
  ciphers = b"\x13\x01\xc0\x2f\xc0\x2b"
  body += struct.pack(">H", len(ciphers)) + ciphers + b"\x01\x00"
  exts = before
  if sni is not None:
    name = sni.encode()
    entry = b"\x00" + struct.pack(">H", len(name)) + name
    sni_body = struct.pack(">H", len(entry)) + entry
    exts += struct.pack(">HH", 0, len(sni_body)) + sni_body
  exts += extensions
  body += struct.pack(">H", len(exts)) + exts
  hs = b"\x01" + len(body).to_bytes(3, "big") + body
  return b"\x16" + record_version + struct.pack(">H", len(hs)) + hs


PROXY_V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def proxy_v2(src, dst):
  """A PROXY v2 PROXY-command header, as a balancer sends it: src and dst
  are (address, port), both IPv4 or both IPv6."""
  import ipaddress
  v6 = ":" in src[0]
  addrs = (ipaddress.ip_address(src[0]).packed + ipaddress.ip_address(dst[0]).packed +
           struct.pack(">HH", src[1], dst[1]))
  return (PROXY_V2_SIG + b"\x21" + (b"\x21" if v6 else b"\x11") +
          struct.pack(">H", len(addrs)) + addrs)


def proxy_v2_local():
  """A PROXY v2 LOCAL header (a balancer's health check): no addresses."""
  return PROXY_V2_SIG + b"\x20\x00\x00\x00"


def parse_http_response(raw):
  """(status, headers as lowercased dict of lists, body bytes)."""
  head, _, body = raw.partition(b"\r\n\r\n")
  lines = head.decode("latin-1").split("\r\n")
  m = re.match(r"HTTP/1\.[01] (\d{3}) ", lines[0] + " ")
  if not m:
    raise AssertionError(f"not an HTTP response: {raw[:200]!r}")
  headers = {}
  for l in lines[1:]:
    k, _, v = l.partition(":")
    headers.setdefault(k.strip().lower(), []).append(v.strip())
  return int(m.group(1)), headers, body


def cert_cn_from_openssl(output):
  m = re.search(r"subject=\s*CN\s*=\s*([^\s,/]+)", output)
  return m.group(1) if m else None


# --- bulk data ------------------------------------------------------------------

CHUNK = 1 << 20
_BASE = os.urandom(CHUNK)


def chunk(i):
  """Deterministic 1 MiB block i: unique per position (reordering shows)."""
  return struct.pack(">Q", i) + _BASE[8:]


def send_stream(sock, total):
  """Sends `total` bytes of chunk() data; returns its sha256 hex."""
  h = hashlib.sha256()
  i = 0
  sent = 0
  while sent < total:
    b = chunk(i)[:total - sent]
    sock.sendall(b)
    h.update(b)
    sent += len(b)
    i += 1
  return h.hexdigest()


def recv_stream(sock, limit=None):
  """Reads until EOF (or `limit` bytes); returns (count, sha256 hex)."""
  h = hashlib.sha256()
  buf = bytearray(CHUNK)
  view = memoryview(buf)
  n = 0
  while limit is None or n < limit:
    want = CHUNK if limit is None else min(CHUNK, limit - n)
    k = sock.recv_into(view[:want])
    if k == 0:
      break
    h.update(view[:k])
    n += k
  return n, h.hexdigest()


class ServerTestCase(unittest.TestCase):
  """A test class sharing one Workspace (cls.ws) and the sallyport instances
  its start_servers() starts in it. If start-up fails, everything started is
  cleaned up; at the end every instance is stopped with SIGTERM and must
  exit 0."""

  hosts_mode = 0o755

  @classmethod
  def start_servers(cls):
    raise NotImplementedError

  @classmethod
  def setUpClass(cls):
    cls.ws = Workspace(hosts_mode=cls.hosts_mode)
    try:
      cls.start_servers()
    except BaseException:
      cls.ws.close()
      raise

  @classmethod
  def tearDownClass(cls):
    rcs = [sp.stop() for sp in cls.ws.servers]
    cls.ws.close()
    assert rcs and all(rc == 0 for rc in rcs), f"sallyport exit statuses {rcs}"
