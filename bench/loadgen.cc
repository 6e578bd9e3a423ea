// SPDX-License-Identifier: Apache-2.0
// bench/loadgen — the load generator of bench/run.sh (epoll, non-blocking,
// one event loop per thread). Benchmark tool, not part of the proxy.
//
//   loadgen short --target=T --request=FILE --proto=tls|http
//                 [--concurrency=32] [--threads=N] [--seconds=2] [--warmup=0.3]
//                 [--sources=1]   (TCP: spread over 127.0.0.2.. , see OpenSocket)
//       Closed-loop short connections: connect, send the request, read the
//       reply (tls: the backend's 64 bytes, then the client closes; http:
//       until the server closes, the status must be 200), repeat.
//       Prints one JSON line: conns, errors, seconds, rate (conns/s),
//       p50_us, p99_us (connect start to reply complete).
//   loadgen bulk --target=T --request=FILE --direction=up|down --bytes=N
//       One connection: the request (a ClientHello that routes to a sink or
//       source backend), the 64-byte reply, then N bytes one way (up: the
//       time until the sink's 8-byte count arrives; down: until EOF).
//       Prints JSON: bytes, seconds, gbps.
//   loadgen hold --target=T --request=FILE --proto=tls --count=N
//       Opens N connections (at most 32 connecting at once), each sends the
//       request and reads the reply; prints "ready N" and holds them open
//       until stdin reaches EOF; then counts those the other side ended
//       meanwhile (dropped), closes them all and prints JSON: held, dropped.
//   loadgen hello --in=FILE --out=FILE [--sni=NAME] [--size=N]
//       Rewrites a captured one-record ClientHello: replaces the server_name
//       and, with --size, adds (or grows) a padding extension (RFC 7685) so
//       the whole record is N bytes (5 + at most 16384).
//
// T is tcp:HOST:PORT or unix:PATH. Exit status: 0, 1 on any failed stage
// (errors > 5% in short mode, a short count in bulk, a failed hold), 2 for
// usage errors.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

[[noreturn]] void Usage(const std::string& why) {
  fprintf(stderr, "loadgen: %s (see the comment at the top of bench/loadgen.cc)\n",
          why.c_str());
  exit(2);
}

std::map<std::string, std::string> g_flags;
int g_sources = 1;  // --sources, see OpenSocket

std::string Flag(const std::string& name, const std::string& def = "\x01") {
  auto it = g_flags.find(name);
  if (it != g_flags.end()) return it->second;
  if (def == "\x01") Usage("missing --" + name);
  return def;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) Usage("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct Target {
  sockaddr_storage addr = {};
  socklen_t len = 0;
  bool tcp = false;
};

Target ParseTarget(const std::string& t) {
  Target out;
  if (t.rfind("unix:", 0) == 0) {
    auto* sun = reinterpret_cast<sockaddr_un*>(&out.addr);
    sun->sun_family = AF_UNIX;
    std::string path = t.substr(5);
    if (path.size() >= sizeof sun->sun_path) Usage("unix path too long");
    memcpy(sun->sun_path, path.data(), path.size());
    out.len = sizeof(sockaddr_un);
    return out;
  }
  if (t.rfind("tcp:", 0) == 0) {
    std::string hp = t.substr(4);
    size_t colon = hp.rfind(':');
    if (colon == std::string::npos) Usage("tcp:HOST:PORT expected");
    auto* in = reinterpret_cast<sockaddr_in*>(&out.addr);
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<uint16_t>(atoi(hp.c_str() + colon + 1)));
    if (inet_pton(AF_INET, hp.substr(0, colon).c_str(), &in->sin_addr) != 1) {
      Usage("bad IPv4 address in " + t);
    }
    out.len = sizeof(sockaddr_in);
    out.tcp = true;
    if (g_sources > 1 && (ntohl(in->sin_addr.s_addr) >> 24) != 127) {
      Usage("--sources needs a loopback target");
    }
    return out;
  }
  Usage("target must be tcp:HOST:PORT or unix:PATH");
}

// --sources=N (TCP to 127.0.0.1 only): each new connection comes from the
// next of 127.0.0.2 .. 127.0.0.(N+1). The client closes TLS exchanges first,
// so its side keeps TIME_WAIT; the kernel reuses a loopback TIME_WAIT port
// only after a second and, for connect(), from half the ephemeral range:
// about 14,000 connections/s from one source address. More sources lift
// that ceiling (IP_BIND_ADDRESS_NO_PORT: the port is picked at connect).
thread_local uint32_t t_next_source = 0;

int OpenSocket(const Target& t, bool nonblock) {
  int fd = socket(t.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) return -1;
  if (t.tcp) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (g_sources > 1) {
      setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      sockaddr_in src = {};
      src.sin_family = AF_INET;
      src.sin_addr.s_addr = htonl(0x7f000002u + (t_next_source++ % uint32_t(g_sources)));
      if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
        close(fd);
        return -1;
      }
    }
  }
  return fd;
}

// ---------------------------------------------------------------- short ---

enum class Proto { kTls, kHttp };

struct ShortConn {
  int fd = -1;
  int64_t start = 0;
  size_t sent = 0;
  std::string got;
  bool live = false;
};

struct ShortStats {
  uint64_t conns = 0, errors = 0, total = 0;  // total: warm-up included
  std::vector<uint32_t> lat_us;
  std::string first_error;
};

class ShortWorker {
 public:
  ShortWorker(const Target& t, const std::string& req, Proto proto, int conc,
              int64_t measure_from, int64_t stop_at)
      : t_(t), req_(req), proto_(proto), conc_(conc), from_(measure_from), stop_(stop_at) {}
  void Run();
  ShortStats stats;

 private:
  void Start(ShortConn& c);
  void Finish(ShortConn& c, bool ok, const char* why);
  void OnEvent(ShortConn& c);

  const Target& t_;
  const std::string& req_;
  Proto proto_;
  int conc_;
  int64_t from_, stop_;
  int ep_ = -1;
  std::vector<ShortConn> conns_;
  char buf_[16384];
};

void ShortWorker::Start(ShortConn& c) {
  c = ShortConn();
  if (NowNs() >= stop_) return;
  c.fd = OpenSocket(t_, true);
  if (c.fd < 0) {
    Finish(c, false, "socket");
    return;
  }
  c.start = NowNs();
  c.live = true;
  int r = connect(c.fd, reinterpret_cast<const sockaddr*>(&t_.addr), t_.len);
  if (r != 0 && errno != EINPROGRESS) {
    Finish(c, false, strerror(errno));
    return;
  }
  epoll_event ev = {};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
  ev.data.ptr = &c;
  epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
}

void ShortWorker::Finish(ShortConn& c, bool ok, const char* why) {
  int64_t now = NowNs();
  if (c.fd >= 0) close(c.fd);
  c.fd = -1;
  c.live = false;
  if (ok) ++stats.total;
  if (c.start >= from_ && now <= stop_) {
    if (ok) {
      ++stats.conns;
      stats.lat_us.push_back(static_cast<uint32_t>((now - c.start) / 1000));
    } else {
      ++stats.errors;
      if (stats.first_error.empty()) stats.first_error = why;
    }
  }
}

void ShortWorker::OnEvent(ShortConn& c) {
  while (c.sent < req_.size()) {
    ssize_t n = send(c.fd, req_.data() + c.sent, req_.size() - c.sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == ENOTCONN) break;
      if (errno == EINTR) continue;
      Finish(c, false, strerror(errno));
      return;
    }
    c.sent += size_t(n);
    if (c.sent == req_.size()) {
      epoll_event ev = {};
      ev.events = EPOLLIN | EPOLLRDHUP;
      ev.data.ptr = &c;
      epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
    }
  }
  for (;;) {
    ssize_t n = recv(c.fd, buf_, sizeof buf_, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == ENOTCONN) return;
      if (errno == EINTR) continue;
      Finish(c, false, strerror(errno));
      return;
    }
    if (n == 0) {
      bool ok = proto_ == Proto::kHttp &&
                (c.got.rfind("HTTP/1.1 200", 0) == 0 || c.got.rfind("HTTP/1.0 200", 0) == 0);
      Finish(c, ok, proto_ == Proto::kTls ? "EOF before the 64-byte reply"
                                          : "no 200 response before EOF");
      return;
    }
    c.got.append(buf_, size_t(n));
    if (proto_ == Proto::kTls && c.got.size() >= 64) {
      Finish(c, c.got.size() == 64 && c.got.rfind("sallyport-bench-reply", 0) == 0,
             "unexpected reply");
      return;
    }
  }
}

void ShortWorker::Run() {
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  conns_.resize(static_cast<size_t>(conc_));
  for (auto& c : conns_) Start(c);
  epoll_event events[256];
  const int64_t kTimeoutNs = 5000000000;
  int64_t last_scan = NowNs();
  for (;;) {
    int64_t now = NowNs();
    if (now >= stop_) break;
    int wait_ms = static_cast<int>(std::min<int64_t>(50, (stop_ - now) / 1000000 + 1));
    int n = epoll_wait(ep_, events, 256, wait_ms);
    for (int i = 0; i < n; ++i) {
      auto* c = static_cast<ShortConn*>(events[i].data.ptr);
      if (!c->live) continue;
      OnEvent(*c);
      if (!c->live) Start(*c);
    }
    now = NowNs();
    if (now - last_scan > 100000000) {
      last_scan = now;
      for (auto& c : conns_) {
        if (c.live && now - c.start > kTimeoutNs) {
          Finish(c, false, "timeout");
          Start(c);
        } else if (!c.live) {
          Start(c);
        }
      }
    }
  }
  for (auto& c : conns_) {
    if (c.fd >= 0) close(c.fd);
  }
  close(ep_);
}

uint32_t Percentile(std::vector<uint32_t>& v, double p) {
  if (v.empty()) return 0;
  size_t k = static_cast<size_t>(p * double(v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + long(k), v.end());
  return v[k];
}

int RunShort() {
  Target t = ParseTarget(Flag("target"));
  std::string req = ReadFile(Flag("request"));
  std::string proto_s = Flag("proto");
  if (proto_s != "tls" && proto_s != "http") Usage("--proto is tls or http");
  Proto proto = proto_s == "tls" ? Proto::kTls : Proto::kHttp;
  int conc = atoi(Flag("concurrency", "32").c_str());
  int threads = atoi(Flag("threads", std::to_string(std::thread::hardware_concurrency())).c_str());
  double seconds = atof(Flag("seconds", "2").c_str());
  double warmup = atof(Flag("warmup", "0.3").c_str());
  if (conc < 1 || threads < 1 || seconds <= 0) Usage("bad --concurrency/--threads/--seconds");
  threads = std::min(threads, conc);
  int64_t t0 = NowNs();
  int64_t from = t0 + int64_t(warmup * 1e9);
  int64_t stop = from + int64_t(seconds * 1e9);
  std::vector<std::unique_ptr<ShortWorker>> workers;
  for (int i = 0; i < threads; ++i) {
    int share = conc / threads + (i < conc % threads ? 1 : 0);
    workers.push_back(std::make_unique<ShortWorker>(t, req, proto, share, from, stop));
  }
  std::vector<std::thread> pool;
  for (auto& w : workers) pool.emplace_back([&w] { w->Run(); });
  for (auto& th : pool) th.join();
  ShortStats all;
  for (auto& w : workers) {
    all.conns += w->stats.conns;
    all.errors += w->stats.errors;
    all.total += w->stats.total;
    all.lat_us.insert(all.lat_us.end(), w->stats.lat_us.begin(), w->stats.lat_us.end());
    if (all.first_error.empty()) all.first_error = w->stats.first_error;
  }
  uint32_t p50 = Percentile(all.lat_us, 0.50), p99 = Percentile(all.lat_us, 0.99);
  printf("{\"conns\": %llu, \"errors\": %llu, \"seconds\": %.3f, \"rate\": %.1f, "
         "\"p50_us\": %u, \"p99_us\": %u, \"total\": %llu, \"first_error\": \"%s\"}\n",
         static_cast<unsigned long long>(all.conns),
         static_cast<unsigned long long>(all.errors), seconds, double(all.conns) / seconds,
         p50, p99, static_cast<unsigned long long>(all.total), all.first_error.c_str());
  bool bad = all.conns == 0 || all.errors * 20 > all.conns + all.errors;
  return bad ? 1 : 0;
}

// ----------------------------------------------------------- blocking io ---

bool SendAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= size_t(w);
  }
  return true;
}

bool RecvExactly(int fd, char* p, size_t n) {
  while (n > 0) {
    ssize_t r = recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= size_t(r);
  }
  return true;
}

int BlockingConnect(const Target& t) {
  int fd = OpenSocket(t, false);
  if (fd < 0) return -1;
  timeval tv = {30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&t.addr), t.len) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int RunBulk() {
  Target t = ParseTarget(Flag("target"));
  std::string req = ReadFile(Flag("request"));
  std::string dir = Flag("direction");
  uint64_t bytes = strtoull(Flag("bytes").c_str(), nullptr, 10);
  if (dir != "up" && dir != "down") Usage("--direction is up or down");
  int fd = BlockingConnect(t);
  if (fd < 0) {
    fprintf(stderr, "loadgen bulk: connect: %s\n", strerror(errno));
    return 1;
  }
  char reply[64];
  if (!SendAll(fd, req.data(), req.size()) || !RecvExactly(fd, reply, 64)) {
    fprintf(stderr, "loadgen bulk: no reply to the hello\n");
    return 1;
  }
  std::vector<char> buf(256 * 1024, 'y');
  uint64_t moved = 0;
  int64_t t0 = NowNs();
  if (dir == "up") {
    while (moved < bytes) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), bytes - moved));
      if (!SendAll(fd, buf.data(), n)) {
        fprintf(stderr, "loadgen bulk: send: %s\n", strerror(errno));
        return 1;
      }
      moved += n;
    }
    uint64_t count = 0;  // the sink answers once it has counted all N bytes
    if (!RecvExactly(fd, reinterpret_cast<char*>(&count), 8) || count != bytes) {
      fprintf(stderr, "loadgen bulk: the sink counted %llu of %llu bytes\n",
              static_cast<unsigned long long>(count), static_cast<unsigned long long>(bytes));
      return 1;
    }
  } else {
    for (;;) {
      ssize_t r = recv(fd, buf.data(), buf.size(), 0);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        fprintf(stderr, "loadgen bulk: recv: %s\n", strerror(errno));
        return 1;
      }
      if (r == 0) break;
      moved += uint64_t(r);
    }
    if (moved != bytes) {
      fprintf(stderr, "loadgen bulk: received %llu of %llu bytes\n",
              static_cast<unsigned long long>(moved), static_cast<unsigned long long>(bytes));
      return 1;
    }
  }
  double secs = double(NowNs() - t0) / 1e9;
  close(fd);
  printf("{\"bytes\": %llu, \"seconds\": %.4f, \"gbps\": %.3f}\n",
         static_cast<unsigned long long>(bytes), secs, double(bytes) * 8 / secs / 1e9);
  return 0;
}

// ----------------------------------------------------------------- hold ---

int RunHold() {
  Target t = ParseTarget(Flag("target"));
  std::string req = ReadFile(Flag("request"));
  int count = atoi(Flag("count").c_str());
  if (count < 1) Usage("--count must be >= 1");
  std::vector<int> fds;
  fds.reserve(size_t(count));
  // Batches of 32: connect, send, then collect the replies.
  for (int done = 0; done < count;) {
    int batch = std::min(32, count - done);
    std::vector<int> open;
    for (int i = 0; i < batch; ++i) {
      int fd = BlockingConnect(t);
      if (fd < 0 || !SendAll(fd, req.data(), req.size())) {
        fprintf(stderr, "loadgen hold: connection %d: %s\n", done + i, strerror(errno));
        return 1;
      }
      open.push_back(fd);
    }
    for (int fd : open) {
      char reply[64];
      if (!RecvExactly(fd, reply, 64)) {
        fprintf(stderr, "loadgen hold: no reply on connection %d\n", done);
        return 1;
      }
      fds.push_back(fd);
    }
    done += batch;
  }
  printf("ready %d\n", count);
  fflush(stdout);
  char c;
  while (read(0, &c, 1) > 0) {
  }
  // Dropped: closed or failed by the other side while held (a held
  // connection gets no byte, so anything readable is an end).
  int dropped = 0;
  for (int fd : fds) {
    ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);
    if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) ++dropped;
    close(fd);
  }
  printf("{\"held\": %d, \"dropped\": %d}\n", count, dropped);
  return 0;
}

// ---------------------------------------------------------------- hello ---

void Put16(std::string& s, size_t v) {
  s.push_back(static_cast<char>((v >> 8) & 0xff));
  s.push_back(static_cast<char>(v & 0xff));
}

size_t Get16(const std::string& s, size_t off) {
  if (off + 2 > s.size()) Usage("truncated ClientHello");
  return (size_t(uint8_t(s[off])) << 8) | uint8_t(s[off + 1]);
}

int RunHello() {
  std::string in = ReadFile(Flag("in"));
  std::string sni = Flag("sni", "");
  size_t size = strtoull(Flag("size", "0").c_str(), nullptr, 10);
  if (in.size() < 9 || in[0] != 22 || in[5] != 1) Usage("not a ClientHello record");
  if (5 + Get16(in, 3) != in.size()) Usage("the capture must be exactly one record");
  std::string body = in.substr(9);  // after the handshake header
  size_t off = 2 + 32;
  off += 1 + uint8_t(body[off]);     // session id
  off += 2 + Get16(body, off);       // cipher suites
  off += 1 + uint8_t(body[off]);     // compression methods
  std::string head = body.substr(0, off);
  size_t ext_len = Get16(body, off);
  size_t p = off + 2, end = p + ext_len;
  if (end != body.size()) Usage("extensions do not end the ClientHello");
  std::vector<std::pair<size_t, std::string>> exts;
  while (p < end) {
    size_t type = Get16(body, p), len = Get16(body, p + 2);
    exts.emplace_back(type, body.substr(p + 4, len));
    p += 4 + len;
  }
  bool have_padding = false;
  for (auto& [type, data] : exts) {
    if (type == 0 && !sni.empty()) {
      data.clear();
      Put16(data, sni.size() + 3);
      data.push_back(0);
      Put16(data, sni.size());
      data += sni;
    }
    if (type == 21) have_padding = true;
  }
  if (size > 0 && !have_padding) exts.insert(exts.begin(), {21, std::string()});
  auto build = [&]() {
    std::string e;
    for (auto& [type, data] : exts) {
      Put16(e, type);
      Put16(e, data.size());
      e += data;
    }
    std::string b = head;
    Put16(b, e.size());
    b += e;
    std::string hs;
    hs.push_back(1);
    hs.push_back(static_cast<char>((b.size() >> 16) & 0xff));
    Put16(hs, b.size() & 0xffff);
    hs += b;
    std::string rec;
    rec.push_back(22);
    rec += in.substr(1, 2);
    Put16(rec, hs.size());
    return rec + hs;
  };
  std::string out = build();
  if (size > 0) {
    if (size < out.size() || size > 5 + 16384) Usage("--size out of range for this hello");
    for (auto& [type, data] : exts) {
      if (type == 21) data.append(size - out.size(), '\0');
    }
    out = build();
  }
  std::ofstream f(Flag("out"), std::ios::binary);
  f << out;
  if (!f) Usage("cannot write " + Flag("out"));
  printf("{\"bytes\": %zu}\n", out.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) Usage("usage: loadgen short|bulk|hold|hello --flag=value ...");
  std::string cmd = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0 || a.find('=') == std::string::npos) Usage("bad flag " + a);
    size_t eq = a.find('=');
    g_flags[a.substr(2, eq - 2)] = a.substr(eq + 1);
  }
  g_sources = atoi(Flag("sources", "1").c_str());
  if (g_sources < 1 || g_sources > 250) Usage("--sources is 1..250");
  if (cmd == "short") return RunShort();
  if (cmd == "bulk") return RunBulk();
  if (cmd == "hold") return RunHold();
  if (cmd == "hello") return RunHello();
  Usage("unknown command " + cmd);
}
