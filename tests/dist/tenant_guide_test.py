# SPDX-License-Identifier: Apache-2.0
"""docs/TENANTS.md, run: every ```sh block, in order, as a throwaway user.

Set-up (as root, the administrator's part): a temporary hosts directory
(root, mode 1777), a real `sallyport tls` and `sallyport http` on local
ports with --user=nobody, a new system user with its own home.

Then each ```sh block of the guide is run verbatim by that user with bash
-euo pipefail, after these rewrites (and nothing else):
  /var/lib/sallyport/hosts                       → the temporary hosts dir
  /usr/share/doc/sallyport/examples/...py        → dist/examples/ (a copy)
  :443:127.0.0.1 and https://NAME/               → the test's TLS port
`sallyport` on PATH is the built binary. systemd user units cannot run in
CI (no user manager): `systemctl --user`, `loginctl` and `journalctl --user`
on PATH are tests/dist/systemd_user_mirror.py, which starts each socket
unit with systemd-socket-activate from the unit files the guide wrote. The
unit files are also checked with `systemd-analyze verify`.

Each ```text block is sample output of the block before it: every line must
appear in that block's real output (digits and the user name may differ).
Needs root (useradd, runuser, sallyport --user): tagged no-sandbox.
"""

import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import warnings

GUIDE = "docs/TENANTS.md"
BACKEND = "dist/examples/tenant-backend.py"
MIRROR = "tests/dist/systemd_user_mirror.py"
SALLYPORT = "proxy/sallyport"


def runfile(rel):
    for base in (os.environ.get("TEST_SRCDIR", "") + "/sallyport", os.getcwd()):
        p = os.path.join(base, rel)
        if os.path.exists(p):
            return os.path.realpath(p)
    raise FileNotFoundError(rel)


def blocks(markdown):
    """[(lang, text)] for every fenced block, in order."""
    return [(m.group(1), m.group(2)) for m in
            re.finditer(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", markdown, re.S | re.M)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sample_pattern(line, user):
    """A sample output line as a regex: numbers and the user name vary."""
    out = []
    for tok in re.split(r"(\s+)", line.strip()):
        if not tok:
            continue
        if tok.isspace():
            out.append(r"\s+")
        elif tok == "alice":
            out.append(r"\S+")
        else:
            out.append(r"\d+".join(re.escape(p) for p in re.split(r"\d+", tok)))
    return "".join(out)


class TenantGuideTest(unittest.TestCase):

    def setUp(self):
        warnings.simplefilter("ignore", ResourceWarning)
        self.assertEqual(os.geteuid(), 0, "needs root (tagged no-sandbox)")
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix="sp-guide.", dir="/tmp")
        os.chmod(self.tmp, 0o755)
        self.hosts = os.path.join(self.tmp, "hosts")
        os.mkdir(self.hosts)
        os.chmod(self.hosts, 0o1777)
        self.bin = os.path.join(self.tmp, "bin")
        os.mkdir(self.bin)
        shutil.copy(runfile(SALLYPORT), os.path.join(self.bin, "sallyport"))
        for name in ("systemctl", "loginctl", "journalctl"):
            shutil.copy(runfile(MIRROR), os.path.join(self.bin, name))
        for f in os.listdir(self.bin):
            os.chmod(os.path.join(self.bin, f), 0o755)
        self.backend = os.path.join(self.tmp, "tenant-backend.py")
        shutil.copy(runfile(BACKEND), self.backend)
        os.chmod(self.backend, 0o644)

        self.user = "sptg%d" % (os.getpid() % 100000)
        self.home = os.path.join(self.tmp, "home")
        subprocess.run(["useradd", "--create-home", "--home-dir", self.home,
                        "--shell", "/bin/bash", self.user], check=True)
        self.uid = pwd.getpwnam(self.user).pw_uid

        self.ports = {}
        self.logs = {}
        for proto in ("tls", "http"):
            port = free_port()
            log = open(os.path.join(self.tmp, proto + ".log"), "w+")
            p = subprocess.Popen(
                [os.path.join(self.bin, "sallyport"), proto, "--hosts=" + self.hosts,
                 "--user=nobody", "--listen=127.0.0.1:%d" % port],
                stdout=log, stderr=subprocess.STDOUT)
            self.procs.append(p)
            self.ports[proto], self.logs[proto] = port, log.name
            self.wait_for(lambda: "started" in open(log.name).read(), proto + " start")

    def tearDown(self):
        for p in self.procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        state = os.path.join(self.home, ".sp-mirror")
        if os.path.isdir(state):
            for f in os.listdir(state):
                if f.endswith(".pid"):
                    pid = open(os.path.join(state, f)).read().split("\n")[0]
                    try:
                        os.kill(int(pid), 9)
                    except (ProcessLookupError, ValueError):
                        pass
        time.sleep(0.2)
        subprocess.run(["userdel", self.user], check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def wait_for(self, cond, what, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.05)
        self.fail("timed out waiting for " + what)

    def rewrite(self, text):
        text = text.replace("/var/lib/sallyport/hosts", self.hosts)
        text = text.replace("/usr/share/doc/sallyport/examples/tenant-backend.py", self.backend)
        text = text.replace(":443:127.0.0.1", ":%d:127.0.0.1" % self.ports["tls"])
        text = re.sub(r"https://([a-z0-9.-]+)/", r"https://\1:%d/" % self.ports["tls"], text)
        text = text.replace(":80:127.0.0.1", ":%d:127.0.0.1" % self.ports["http"])
        text = re.sub(r"http://([a-z0-9.-]+)/", r"http://\1:%d/" % self.ports["http"], text)
        return text

    def run_as_tenant(self, script):
        env = {"HOME": self.home, "USER": self.user, "LOGNAME": self.user,
               "PATH": self.bin + ":/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
        return subprocess.run(
            ["runuser", "-u", self.user, "--", "/usr/bin/env", "-i"] +
            ["%s=%s" % kv for kv in env.items()] +
            ["/bin/bash", "-euo", "pipefail", "-c", script],
            cwd=self.home, capture_output=True, text=True, timeout=120)

    def test_every_command_in_the_guide(self):
        guide = open(runfile(GUIDE)).read()
        found = blocks(guide)
        sh = [b for lang, b in found if lang == "sh"]
        self.assertGreaterEqual(len(sh), 8, "the guide's sh blocks were not found")
        outputs = []
        last_out = None
        for i, (lang, text) in enumerate(found):
            if lang == "text":
                self.assertIsNotNone(last_out, "a text block before any command")
                for line in text.strip().splitlines():
                    self.assertRegex(last_out, sample_pattern(line, self.user),
                                     "sample output %r (block %d) is not what the "
                                     "command before it printed" % (line, i))
                continue
            if lang != "sh":
                continue
            r = self.run_as_tenant(self.rewrite(text))
            self.assertEqual(
                r.returncode, 0,
                "guide block %d failed (exit %d):\n%s\n--- stdout\n%s\n--- stderr\n%s"
                "\n--- sallyport tls log\n%s" % (i, r.returncode, text, r.stdout,
                                                  r.stderr, open(self.logs["tls"]).read()))
            outputs.append((text, r.stdout))
            last_out = r.stdout

        # What the guide promised, checked on the real state.
        by_cmd = {t.strip().splitlines()[-1]: o for t, o in outputs}
        curls = [o for t, o in outputs if "curl" in t]
        self.assertEqual([c.splitlines()[0] for c in curls],
                         ["hello from v1", "hello from v2", "hello from v2", "hello from v2"])
        check = [o for t, o in outputs if t.startswith("sallyport check")][0]
        self.assertIn("shop.example.test  shop.example.test/tls-socket.v1", check)
        self.assertIn("%s (%d)" % (self.user, self.uid), check)
        self.assertRegex(by_cmd["journalctl --user -u shop@v3 | grep client="],
                         r'v3 client=127\.0\.0\.1:\d+ "GET / HTTP/1.1" 200')
        d = os.path.join(self.hosts, "shop.example.test")
        self.assertEqual(os.readlink(os.path.join(d, "tls-socket")), "tls-socket.v3")
        self.assertEqual(os.stat(d).st_uid, self.uid)
        self.assertEqual(os.readlink(os.path.join(self.hosts, "www.shop.example.test")),
                         "shop.example.test")
        self.assertFalse(os.path.exists(os.path.join(d, "tls-socket.v1")),
                         "RemoveOnStop: v1's socket should be gone after it was stopped")
        st = os.lstat(os.path.join(d, "tls-socket.v2"))
        self.assertEqual((st.st_mode & 0o777, st.st_uid), (0o666, self.uid))
        tls_log = open(self.logs["tls"]).read()
        self.assertIn("host=www.shop.example.test outcome=relayed", tls_log)
        self.assertEqual(tls_log.count("host=shop.example.test outcome=relayed"), 3, tls_log)

        # A clean tree, as `sallyport check` sees it now.
        r = self.run_as_tenant("sallyport check --hosts=" + self.hosts)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("www.shop.example.test  shop.example.test/tls-socket.v3", r.stdout)
        self.assertRegex(r.stdout, r"shop\.example\.test\s+shop\.example\.test/tls-socket\.v3"
                                   r"\s+\S+ \(\d+\)\s+v1")

        # The unit files the guide wrote are valid systemd units.
        units = os.path.join(self.home, ".config/systemd/user")
        for inst in ("v1", "v2", "v3"):
            for kind in ("socket", "service"):
                shutil.copy(os.path.join(units, "shop@." + kind),
                            os.path.join(self.tmp, "shop@%s.%s" % (inst, kind)))
        v = subprocess.run(
            ["systemd-analyze", "verify", "--man=no"] +
            [os.path.join(self.tmp, "shop@%s.%s" % (i, k))
             for i in ("v1", "v2", "v3") for k in ("socket", "service")],
            capture_output=True, text=True, env=dict(os.environ, HOME=self.home))
        self.assertEqual((v.returncode, v.stderr.strip()), (0, ""), v.stdout + v.stderr)


if __name__ == "__main__":
    unittest.main()
