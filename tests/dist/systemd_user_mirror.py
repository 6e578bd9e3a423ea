#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Stand-ins for `systemctl --user`, `loginctl` and `journalctl --user` in CI,
where there is no systemd user manager (tests/dist/tenant_guide_test).

Installed as three names for one script; argv[0] selects the command. It
reads the tenant's real unit files (~/.config/systemd/user) and starts a
socket unit the way systemd would, with the same listening socket, through
systemd-socket-activate: ListenStream= (a Unix socket path), SocketMode=
(applied before the command returns), RemoveOnStop=, the matching service's EnvironmentFile= and
ExecStart= with %i, %h and %% specifiers and $VAR / ${VAR} expansion. The
backend starts on the first connection (systemd-socket-activate waits for
it), LISTEN_FDS=1 on fd 3. Not emulated: restarting a backend that exited.
State (pids, logs) lives in ~/.sp-mirror/.
"""

import os
import re
import shlex
import signal
import subprocess
import sys
import time

HOME = os.environ["HOME"]
UNIT_DIR = os.path.join(HOME, ".config/systemd/user")
STATE = os.path.join(HOME, ".sp-mirror")


def die(msg):
    sys.stderr.write("mirror: %s\n" % msg)
    sys.exit(1)


def split_name(unit):
    m = re.fullmatch(r"([A-Za-z0-9_.-]+?)(?:@([A-Za-z0-9_.-]*))?\.(socket|service)", unit)
    if not m:
        die("unsupported unit name %r" % unit)
    return m.group(1), m.group(2), m.group(3)


def unit_file(prefix, instance, kind):
    for name in ([f"{prefix}@{instance}.{kind}", f"{prefix}@.{kind}"]
                 if instance is not None else [f"{prefix}.{kind}"]):
        path = os.path.join(UNIT_DIR, name)
        if os.path.exists(path):
            return path
    die(f"no unit file for {prefix}@{instance}.{kind} in {UNIT_DIR}")


def parse(path, section):
    keys, current = {}, None
    for line in open(path):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = line.strip("[]")
            continue
        if current == section and "=" in line:
            k, v = line.split("=", 1)
            keys.setdefault(k.strip(), []).append(v.strip())
    return keys


def specifiers(text, instance):
    values = {"i": instance or "", "h": HOME, "%": "%"}

    def one(m):
        if m.group(1) not in values:
            die("specifier %" + m.group(1) + " is not mirrored")
        return values[m.group(1)]
    return re.sub(r"%(.)", one, text)


def exec_argv(line, env):
    argv = []
    for word in shlex.split(line):
        m = re.fullmatch(r"\$(\w+)", word)
        if m:  # $VAR: split into words, like systemd
            argv.extend(env.get(m.group(1), "").split())
            continue
        argv.append(re.sub(r"\$\{(\w+)\}", lambda n: env.get(n.group(1), ""), word))
    return argv


def key(unit):
    prefix, instance, _ = split_name(unit)
    return f"{prefix}@{instance}" if instance is not None else prefix


def start_socket(unit):
    prefix, instance, _ = split_name(unit)
    sock = parse(unit_file(prefix, instance, "socket"), "Socket")
    svc = parse(unit_file(prefix, instance, "service"), "Service")
    listen = specifiers(sock["ListenStream"][-1], instance)
    if not listen.startswith("/"):
        die("only Unix socket paths are mirrored, not %r" % listen)
    mode = int(sock.get("SocketMode", ["0666"])[-1], 8)
    env = {}
    for ef in svc.get("EnvironmentFile", []):
        ef = specifiers(ef, instance)
        optional = ef.startswith("-")
        ef = ef.lstrip("-")
        if not os.path.exists(ef):
            if optional:
                continue
            die("missing EnvironmentFile " + ef)
        for line in open(ef):
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v
    argv = exec_argv(specifiers(svc["ExecStart"][-1], instance), env)
    os.makedirs(STATE, exist_ok=True)
    log = open(os.path.join(STATE, key(unit) + ".log"), "ab")
    p = subprocess.Popen(["systemd-socket-activate", "-l", listen, "--"] + argv,
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                         start_new_session=True)
    for _ in range(200):
        if os.path.exists(listen):
            break
        if p.poll() is not None:
            die(f"{unit}: systemd-socket-activate exited {p.returncode}")
        time.sleep(0.02)
    else:
        die(f"{unit}: {listen} did not appear")
    # systemd binds with SocketMode as the umask; systemd-socket-activate
    # uses its own, so set the mode before anyone can be told to connect.
    os.chmod(listen, mode)
    remove = sock.get("RemoveOnStop", ["no"])[-1] in ("yes", "true", "1", "on")
    with open(os.path.join(STATE, key(unit) + ".pid"), "w") as f:
        f.write(f"{p.pid}\n{listen if remove else ''}\n")


def stop(unit):
    path = os.path.join(STATE, key(unit) + ".pid")
    if not os.path.exists(path):
        return
    pid, remove = (open(path).read().split("\n") + [""])[:2]
    try:
        os.kill(int(pid), signal.SIGTERM)
    except ProcessLookupError:
        pass
    if remove and os.path.lexists(remove):
        os.unlink(remove)
    if unit.endswith(".socket"):
        os.unlink(path)


def systemctl(args):
    if not args or args[0] != "--user":
        die("only systemctl --user is mirrored")
    args = args[1:]
    cmd, rest = args[0], args[1:]
    now = "--now" in rest
    units = [u for u in rest if not u.startswith("-")]
    if cmd == "daemon-reload":
        return
    for u in units:
        if cmd == "start" or (cmd == "enable" and now):
            if u.endswith(".socket"):
                start_socket(u)
        elif cmd == "stop" or (cmd == "disable" and now):
            stop(u)
        elif cmd not in ("enable", "disable"):
            die("systemctl %s is not mirrored" % cmd)


def journalctl(args):
    if "--user" not in args or "-u" not in args:
        die("only journalctl --user -u UNIT is mirrored")
    unit = args[args.index("-u") + 1]
    if "." not in unit:
        unit += ".service"
    path = os.path.join(STATE, key(unit) + ".log")
    if os.path.exists(path):
        sys.stdout.write(open(path, errors="replace").read())


def main():
    name = os.path.basename(sys.argv[0])
    if name == "systemctl":
        systemctl(sys.argv[1:])
    elif name == "journalctl":
        journalctl(sys.argv[1:])
    elif name == "loginctl":
        if sys.argv[1:2] != ["enable-linger"]:
            die("only loginctl enable-linger is mirrored")
    else:
        die("unknown name " + name)


if __name__ == "__main__":
    main()
