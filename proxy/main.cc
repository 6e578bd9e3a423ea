// SPDX-License-Identifier: Apache-2.0
// sallyport — routes TLS by SNI, or HTTP/1.1 by Host, to per-tenant Unix
// sockets under hosts/<name>/, one sandboxed child process per connection.
//
//   sallyport tls  [flags]   route TLS to hosts/<name>/tls-socket
//   sallyport http [flags]   route HTTP/1.1 to hosts/<name>/http-socket
//
// Start-up order (fails closed at each step; docs/SECURITY.md):
// flags → listening socket → compile seccomp filters → signal handling →
// sandbox::LockdownParent (warm-up, namespaces, chroot, user drop,
// no_new_privs, parent filter) → serve.
#include <fcntl.h>
#include <sys/resource.h>
#include <signal.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "policy/syscalls.h"
#include "proxy/check.h"
#include "proxy/cidr.h"
#include "proxy/log.h"
#include "proxy/listener.h"
#include "proxy/relay_process.h"
#include "proxy/server.h"
#include "proxy/warmup.h"
#include "proxy/zygote.h"
#include "sandbox/lockdown.h"
#include "sandbox/seccomp.h"

#ifndef SALLYPORT_VERSION
#define SALLYPORT_VERSION "0.1.0"
#endif

// The flags. Each is named here with underscores (abseil's spelling) but
// documented, and named in sallyport's own messages, with dashes
// (--max-per-ip): main() rewrites the dashes of every flag name in argv to
// underscores before abseil parses it, so both spellings work.

ABSL_FLAG(std::string, hosts, ".",
          "the hosts directory: one entry per host name (default: the current "
          "directory)");
ABSL_FLAG(std::string, listen, "",
          "ADDR:PORT or [IPV6]:PORT to listen on, when no socket is inherited "
          "(systemd socket activation or fd 0)");
ABSL_FLAG(std::string, user, "",
          "the unprivileged user to run as; required when started as root");
ABSL_FLAG(int, max_connections, 8192, "live connections in all (global cap)");
ABSL_FLAG(int, relays, 0,
          "relay processes holding the routed connections (each connection goes to "
          "the one holding the fewest; each holds two descriptors per connection); "
          "0: as many as --max-connections needs under RLIMIT_NOFILE, at least 1");
ABSL_FLAG(int, max_per_ip, 32, "live connections from one source address");
ABSL_FLAG(double, rate_per_ip, 20,
          "new connections per second from one source (token bucket, burst "
          "twice this)");
ABSL_FLAG(absl::Duration, handshake_timeout, absl::Seconds(10),
          "time a client has to send its ClientHello / request head");
ABSL_FLAG(absl::Duration, idle_timeout, absl::Minutes(5),
          "a relayed connection with no data either way for this long is closed");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(30),
          "on SIGTERM/SIGINT, how long in-flight connections may finish");
ABSL_FLAG(std::string, log_format, "text", "text or json");
ABSL_FLAG(int, prefork, -1,
          "children kept forked, locked down and waiting for one connection "
          "each, so no fork is on a connection's path (default: 4 per CPU; "
          "0: fork each child when its connection arrives)");
ABSL_FLAG(int, zygote_max_children, 10000,
          "replace the zygote (the fork server: a fresh exec, so a fresh address "
          "layout for the children after it) after it has forked this many "
          "children; 0: only after a child crash, as always");
ABSL_FLAG(std::string, assume, "auto",
          "sallyport check only: whose view of owners to check with: auto (root "
          "mode when run as root, else the caller's unprivileged mode) or root "
          "(a proxy started as root, e.g. the packaged units)");
ABSL_FLAG(std::string, accept_proxy, "",
          "CIDR[,CIDR...]: the trusted upstream balancers (e.g. "
          "10.0.0.5/32,2001:db8::/64). Every connection must come from one of "
          "them and start with a PROXY v1/v2 header; the client address it "
          "gives is logged, passed on, and keyed by the per-client limits. "
          "A connection from any other address is closed unread");
ABSL_FLAG(int, max_per_proxy, 0,
          "with --accept-proxy: live connections from one trusted balancer's "
          "own address (0: up to --max-connections)");
ABSL_FLAG(double, rate_per_proxy, 0,
          "with --accept-proxy: new connections per second from one trusted "
          "balancer's own address (token bucket, burst twice this; 0: no "
          "limit, each client behind it has its own --rate-per-ip)");
ABSL_FLAG(int, max_crashes_per_minute, 10,
          "global crash budget: when more children than this die of a fault "
          "(SIGSYS, SIGSEGV, ...) within 60 s, from all sources together, "
          "stop accepting for --crash-pause");
ABSL_FLAG(absl::Duration, crash_pause, absl::Seconds(60),
          "how long accepting stops when the global crash budget is exhausted "
          "(connections wait in the listen backlog meanwhile)");

namespace {

using sallyport::proxy::LogFormat;
using sallyport::proxy::LogRecord;

int Fail(const std::string& what) {
  fprintf(stderr, "sallyport: %s\n", what.c_str());
  return 2;
}

bool Positive(absl::Duration d) { return d > absl::ZeroDuration(); }

int MillisClamped(absl::Duration d) {
  int64_t ms = absl::ToInt64Milliseconds(d);
  return ms > 86400000 ? 86400000 : static_cast<int>(ms);
}

// 0, 1 and 2 must be open so an accepted socket never lands on them.
void EnsureStdio() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (fcntl(fd, F_GETFD) < 0) {
      int n = open("/dev/null", O_RDWR);
      if (n >= 0 && n != fd) close(n);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  // The fork server is this binary exec'd by the parent under another
  // argv[0] (proxy/zygote.h); it parses no flags and touches little memory.
  if (argc >= 1 && strcmp(argv[0], sallyport::proxy::kZygoteArgv0) == 0) {
    return sallyport::proxy::ZygoteMain(argv[0]);
  }
  // So is the relay (proxy/relay_process.h).
  if (argc >= 1 && strcmp(argv[0], sallyport::proxy::kRelayArgv0) == 0) {
    return sallyport::proxy::RelayMain(argv[0]);
  }
  absl::FlagsUsageConfig usage_config;
  usage_config.version_string = [] {
    return std::string("sallyport " SALLYPORT_VERSION "\n");
  };
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "proxy/main.cc");
  };
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(
      "routes TLS by SNI or HTTP/1.1 by Host to hosts/<name>/{tls,http}-socket\n"
      "usage: sallyport tls|http [--hosts=DIR] [--listen=ADDR:PORT] "
      "[--user=USER] [flags]\n"
      "       sallyport check [--hosts=DIR] [--assume=auto|root]   lint hosts/, print the routes\n"
      "Flags may be spelled with dashes or underscores (--max-per-ip, "
      "--max_per_ip).\nSee sallyport --help and README.md.");
  // Flags are documented (and named in our own error messages) with dashes,
  // --log-format, --max-per-ip, ...; abseil only knows the underscore
  // spelling, so accept both by normalising the name part of every flag.
  std::vector<std::string> normalized(argv, argv + argc);
  std::vector<char*> argv_normalized;
  bool flags_done = false;
  for (std::string& a : normalized) {
    if (!flags_done && a == "--") flags_done = true;
    if (!flags_done && a.size() > 2 && a[0] == '-' && a[1] == '-') {
      for (size_t i = 2; i < a.size() && a[i] != '='; ++i) {
        if (a[i] == '-') a[i] = '_';
      }
    }
    argv_normalized.push_back(a.data());
  }
  argv_normalized.push_back(nullptr);
  // --accept-proxy used to be a switch. Trusting every source is what it
  // must no longer mean, and abseil would take the next argument as its
  // value: refuse the bare form, naming the new one.
  for (const std::string& a : normalized) {
    if (a == "--") break;
    if (a == "--accept_proxy" || a == "-accept_proxy") {
      return Fail(
          "--accept-proxy needs the addresses of the trusted balancers: "
          "--accept-proxy=CIDR[,CIDR...], e.g. --accept-proxy=10.0.0.5/32,2001:db8::/64 "
          "(a PROXY header from any other source is not trusted)");
    }
  }
  std::vector<char*> args = absl::ParseCommandLine(argc, argv_normalized.data());
  EnsureStdio();

  // `sallyport check`: an offline lint of --hosts; no listener, no
  // lockdown, no backend is touched (proxy/check.h).
  if (args.size() == 2 && std::string(args[1]) == "check") {
    return sallyport::proxy::RunCheck(absl::GetFlag(FLAGS_hosts), absl::GetFlag(FLAGS_assume),
                                      stdout);
  }
  if (args.size() != 2 || (std::string(args[1]) != "tls" && std::string(args[1]) != "http")) {
    return Fail("usage: sallyport tls|http [flags] (see --help)");
  }
  const bool tls = std::string(args[1]) == "tls";

  sallyport::proxy::ServerConfig config;
  std::string format = absl::GetFlag(FLAGS_log_format);
  if (format == "json") {
    config.log_format = LogFormat::kJson;
  } else if (format != "text") {
    return Fail(absl::StrCat("--log-format=", format, ": expected text or json"));
  }
  config.limits.max_connections = absl::GetFlag(FLAGS_max_connections);
  config.limits.max_per_source = absl::GetFlag(FLAGS_max_per_ip);
  config.limits.rate_per_source = absl::GetFlag(FLAGS_rate_per_ip);
  config.limits.burst_per_source = 2 * config.limits.rate_per_source;
  if (config.limits.max_connections < 1 || config.limits.max_per_source < 1 ||
      !(config.limits.rate_per_source > 0)) {
    return Fail("--max-connections, --max-per-ip and --rate-per-ip must be positive");
  }
  for (auto [name, d] : {std::pair{"--handshake-timeout", absl::GetFlag(FLAGS_handshake_timeout)},
                         std::pair{"--idle-timeout", absl::GetFlag(FLAGS_idle_timeout)},
                         std::pair{"--drain-timeout", absl::GetFlag(FLAGS_drain_timeout)}}) {
    if (!Positive(d)) return Fail(absl::StrCat(name, " must be positive"));
  }
  config.child.protocol = tls ? sallyport::proxy::Protocol::kTls
                              : sallyport::proxy::Protocol::kHttp;
  if (std::string cidrs = absl::GetFlag(FLAGS_accept_proxy); !cidrs.empty()) {
    auto nets = sallyport::proxy::ParseCidrList(cidrs);
    if (!nets.ok()) {
      return Fail(absl::StrCat("--accept-proxy=", cidrs, ": ", nets.status().message(),
                               " (expected CIDR[,CIDR...], e.g. 10.0.0.5/32,2001:db8::/64)"));
    }
    config.trusted_proxies = *nets;
  }
  config.child.accept_proxy = !config.trusted_proxies.empty();
  {
    int max_per_proxy = absl::GetFlag(FLAGS_max_per_proxy);
    double rate_per_proxy = absl::GetFlag(FLAGS_rate_per_proxy);
    if (max_per_proxy < 0 || rate_per_proxy < 0) {
      return Fail("--max-per-proxy and --rate-per-proxy must be 0 (no own limit) or positive");
    }
    // A balancer carries every client behind it: by default its own address
    // is capped only by --max-connections and not rate limited (each client
    // has its own --max-per-ip and --rate-per-ip from the PROXY header).
    config.balancer_limits = config.limits;
    config.balancer_limits.max_per_source =
        max_per_proxy > 0 ? max_per_proxy : config.limits.max_connections;
    config.balancer_limits.rate_per_source = rate_per_proxy > 0 ? rate_per_proxy : 1e12;
    config.balancer_limits.burst_per_source = 2 * config.balancer_limits.rate_per_source;
  }
  config.crash_budget.max_crashes = absl::GetFlag(FLAGS_max_crashes_per_minute);
  config.crash_budget.pause_seconds =
      absl::ToDoubleSeconds(absl::GetFlag(FLAGS_crash_pause));
  if (config.crash_budget.max_crashes < 1 || !Positive(absl::GetFlag(FLAGS_crash_pause))) {
    return Fail("--max-crashes-per-minute and --crash-pause must be positive");
  }
  config.child.handshake_timeout_ms = MillisClamped(absl::GetFlag(FLAGS_handshake_timeout));
  config.child.idle_timeout_ms = MillisClamped(absl::GetFlag(FLAGS_idle_timeout));
  config.drain_timeout_ms = MillisClamped(absl::GetFlag(FLAGS_drain_timeout));
  {
    int prefork = absl::GetFlag(FLAGS_prefork);
    if (prefork < 0) {
      long cpus = sysconf(_SC_NPROCESSORS_ONLN);
      prefork = 4 * static_cast<int>(cpus > 0 ? cpus : 1);
    }
    if (prefork > 4096) return Fail("--prefork: at most 4096 waiting children");
    config.prefork = static_cast<size_t>(prefork);
  }
  {
    // Every descriptor the hard limit allows: the relays hold two per
    // connection (and pass the limit on to the processes they exec).
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
      nofile.rlim_cur = nofile.rlim_max;
      setrlimit(RLIMIT_NOFILE, &nofile);
    }
    if (getrlimit(RLIMIT_NOFILE, &nofile) != 0) {
      return Fail(absl::StrCat("getrlimit(RLIMIT_NOFILE): ", strerror(errno)));
    }
    config.nofile = nofile.rlim_cur == RLIM_INFINITY ? (1u << 20) : nofile.rlim_cur;
    const size_t per_relay = sallyport::proxy::RelayCapacity(config.nofile);
    const size_t wanted = static_cast<size_t>(config.limits.max_connections);
    int relays = absl::GetFlag(FLAGS_relays);
    if (relays < 0 || relays > sallyport::proxy::kMaxRelays) {
      return Fail(absl::StrCat("--relays=", relays, ": expected 0 (automatic) to ",
                               sallyport::proxy::kMaxRelays));
    }
    if (relays == 0) {
      // Under a tiny limit more relays would only take the descriptors
      // that the one can use (the warning below says it does not fit).
      size_t need = per_relay == 0 ? 1 : (wanted + per_relay - 1) / per_relay;
      relays = static_cast<int>(std::clamp<size_t>(need, 1, sallyport::proxy::kMaxRelays));
    }
    config.relays = static_cast<size_t>(relays);
  }
  char* hosts_real = realpath(absl::GetFlag(FLAGS_hosts).c_str(), nullptr);
  if (hosts_real == nullptr) {
    return Fail(absl::StrCat("--hosts=", absl::GetFlag(FLAGS_hosts), ": ", strerror(errno)));
  }
  std::string hosts_dir = hosts_real;
  free(hosts_real);

  auto listener = sallyport::proxy::AcquireListener(absl::GetFlag(FLAGS_listen));
  if (!listener.ok()) return Fail(std::string(listener.status().message()));
  config.listen_fd = listener->fd;

  {
    int max_children = absl::GetFlag(FLAGS_zygote_max_children);
    if (max_children < 0) return Fail("--zygote-max-children must be 0 or positive");
    config.zygote_max_children = static_cast<uint64_t>(max_children);
  }
  // The zygote and the relay are exec'd from this very binary after chroot,
  // where no path leads to it: keep it open (close-on-exec; exec'd through
  // the fd).
  config.exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (config.exe_fd < 0) {
    return Fail(absl::StrCat("open /proc/self/exe (the zygote is exec'd from it): ",
                             strerror(errno)));
  }

  // A waiting child runs under the zygote's filter (ChildPolicy() plus the
  // zygote's own groups) and adds only this narrowing: a few instructions
  // that take the zygote's own calls away (sandbox/seccomp.h).
  auto child_filter = sallyport::sandbox::CompileNarrowing(sallyport::policy::ZygotePolicy());
  if (!child_filter.ok()) return Fail(absl::StrCat("child filter: ", child_filter.status().ToString()));
  auto parent_filter = sallyport::sandbox::CompileFilter(sallyport::policy::ParentPolicy());
  if (!parent_filter.ok()) return Fail(absl::StrCat("parent filter: ", parent_filter.status().ToString()));
  config.child_filter = &*child_filter;
  auto zygote_filter = sallyport::sandbox::CompileFilter(sallyport::policy::ZygotePolicy());
  if (!zygote_filter.ok()) return Fail(absl::StrCat("zygote filter: ", zygote_filter.status().ToString()));
  config.zygote_filter = &*zygote_filter;
  auto relay_filter = sallyport::sandbox::CompileFilter(sallyport::policy::RelayPolicy());
  if (!relay_filter.ok()) return Fail(absl::StrCat("relay filter: ", relay_filter.status().ToString()));
  config.relay_filter = &*relay_filter;

  if (absl::Status s = sallyport::proxy::PrepareSignals(); !s.ok()) {
    return Fail(std::string(s.message()));
  }

  sallyport::sandbox::ParentLockdownOptions lock;
  lock.hosts_dir = hosts_dir;
  if (!absl::GetFlag(FLAGS_user).empty()) lock.user = absl::GetFlag(FLAGS_user);
  lock.filter = &*parent_filter;
  lock.warm_up = sallyport::proxy::WarmUpParsers;
  auto locked = sallyport::sandbox::LockdownParent(lock);
  if (!locked.ok()) return Fail(absl::StrCat("lockdown: ", locked.status().message()));
  config.devnull_fd = locked->devnull_fd;
  config.child.unmapped_uid = locked->unmapped_uid;

  sallyport::proxy::EmitLine(
      LogRecord("started")
          .Str("proto", tls ? "tls" : "http")
          .Str("version", SALLYPORT_VERSION)
          .Str("hosts", hosts_dir)
          .Str("listen", listener->how)
          .Str("sandbox", locked->Describe())
          .Int("max_connections", config.limits.max_connections)
          .Int("max_per_ip", config.limits.max_per_source)
          .Int("prefork", static_cast<int64_t>(config.prefork))
          .Int("relays", static_cast<int64_t>(config.relays))
          .Int("nofile", static_cast<int64_t>(config.nofile))
          .Seconds("handshake_timeout", config.child.handshake_timeout_ms / 1000.0)
          .Seconds("idle_timeout", config.child.idle_timeout_ms / 1000.0)
          .Str("accept_proxy", config.child.accept_proxy
                                   ? sallyport::proxy::FormatCidrList(config.trusted_proxies)
                                   : "no")
          .Format(config.log_format, sallyport::proxy::NowUnixSeconds()));
  if (const size_t fit = config.relays * sallyport::proxy::RelayCapacity(config.nofile);
      fit < static_cast<size_t>(config.limits.max_connections)) {
    sallyport::proxy::EmitLine(
        LogRecord("warning")
            .Str("proto", tls ? "tls" : "http")
            .Str("what", absl::StrCat(
                "--max-connections=", config.limits.max_connections, " does not fit: ",
                config.relays, " relay(s) under RLIMIT_NOFILE ", config.nofile, " hold about ",
                fit, " connections; raise LimitNOFILE (or ulimit -n) or --relays"))
            .Format(config.log_format, sallyport::proxy::NowUnixSeconds()));
  }
  if (locked->unmapped_uid.has_value()) {
    const bool userns = locked->mode == sallyport::sandbox::LockdownMode::kUserNamespace;
    LogRecord warning("warning");
    warning.Str("proto", tls ? "tls" : "http")
        .Str("what", userns ? absl::StrCat("unprivileged mode: only uid ", locked->uid,
                                           " is mapped; entries owned by any other uid "
                                           "(including root) are refused as unverifiable")
                            : std::string("started inside a user namespace that does not "
                                          "map every uid: entries owned by unmapped uids "
                                          "are refused as unverifiable"));
    if (userns) warning.Int("mapped_uid", locked->uid);
    sallyport::proxy::EmitLine(warning.Int("overflow_uid", *locked->unmapped_uid)
                                   .Format(config.log_format,
                                           sallyport::proxy::NowUnixSeconds()));
  }
  return sallyport::proxy::Serve(config);
}
