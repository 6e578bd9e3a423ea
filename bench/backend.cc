// SPDX-License-Identifier: Apache-2.0
// bench/backend — fast benchmark backends on Unix sockets (epoll, one event
// loop per thread, every listening socket in every loop, EPOLLEXCLUSIVE).
//
// Benchmark tool, not part of the proxy: trusts its command line, serves
// whatever connects. Never used in tests of the proxy's security.
//
//   backend [--threads=N] PATH:MODE[:ARG] ...
//
// Each PATH is unlinked, bound with umask 0 (mode 0777, so any proxy user
// can connect) and listened on. MODE says what a connection gets:
//   tls         after a complete ClientHello (TLS records of type 22 until
//               the handshake message is whole): a fixed 64-byte reply;
//               then reads and discards until EOF, then closes.
//   http        after a complete request head (CRLFCRLF): a 64-byte
//               "HTTP/1.1 200 OK" response with Connection: close; closes.
//   sink:N      after a ClientHello: the 64-byte reply; then counts N bytes
//               (or up to EOF), answers the count as 8 bytes (little
//               endian), then reads until EOF and closes. (Not relying on
//               half-close: sniproxy closes both ways on a client's FIN.)
//   source:N    after a ClientHello: the 64-byte reply, then N bytes, then
//               closes.
// Prints "ready" on stdout once every socket listens; runs until SIGTERM or
// SIGINT. Errors at start-up: a message on stderr, exit 2.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

enum class Mode { kTls, kHttp, kSink, kSource };

struct Listener {
  int fd = -1;
  Mode mode = Mode::kTls;
  uint64_t source_bytes = 0;  // source: bytes to send; sink: bytes to expect
};

constexpr char kTlsReply[] =
    "sallyport-bench-reply-0123456789abcdef0123456789abcdef0123456789";
static_assert(sizeof kTlsReply == 65, "the reply is 64 bytes");
// 57 bytes of head + 7 of body.
constexpr char kHttpReply[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nbench\r\n";
static_assert(sizeof kHttpReply == 65, "the HTTP reply is 64 bytes");

enum class Phase { kRequest, kReply, kDrain, kSink, kSource, kCount };

struct Conn {
  int fd = -1;
  const Listener* l = nullptr;
  Phase phase = Phase::kRequest;
  std::string in;       // request bytes so far
  size_t rec_off = 0;   // TLS: start of the next unparsed record in `in`
  std::string hs;       // TLS: handshake payload so far
  const char* out = nullptr;
  size_t out_len = 0, out_off = 0;
  uint64_t counted = 0;     // sink: bytes received after the hello
  uint64_t remaining = 0;   // source: bytes still to send
  unsigned char count_buf[8];
};

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

// True once `c->in` holds a complete request for the listener's protocol.
bool RequestComplete(Conn* c) {
  if (c->l->mode == Mode::kHttp) return c->in.find("\r\n\r\n") != std::string::npos;
  while (c->in.size() - c->rec_off >= 5) {
    const auto* p = reinterpret_cast<const unsigned char*>(c->in.data() + c->rec_off);
    size_t len = (size_t(p[3]) << 8) | p[4];
    if (c->in.size() - c->rec_off < 5 + len) break;
    c->hs.append(c->in, c->rec_off + 5, len);
    c->rec_off += 5 + len;
  }
  if (c->hs.size() < 4) return false;
  const auto* h = reinterpret_cast<const unsigned char*>(c->hs.data());
  size_t need = 4 + ((size_t(h[1]) << 16) | (size_t(h[2]) << 8) | h[3]);
  return c->hs.size() >= need;
}

class Loop {
 public:
  explicit Loop(const std::vector<Listener>* listeners) : listeners_(listeners) {}
  void Run();

 private:
  void Accept(const Listener& l);
  void Handle(Conn* c, uint32_t events);
  void Close(Conn* c) {
    close(c->fd);
    delete c;
  }
  // Returns false when the connection was closed.
  bool Write(Conn* c);

  const std::vector<Listener>* listeners_;
  int ep_ = -1;
  std::vector<char> buf_ = std::vector<char>(256 * 1024);
  std::vector<char> source_ = std::vector<char>(256 * 1024, 'x');
};

void Loop::Run() {
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  for (const Listener& l : *listeners_) {
    epoll_event ev = {};
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.u64 = reinterpret_cast<uintptr_t>(&l) | 1;  // tag: a listener
    epoll_ctl(ep_, EPOLL_CTL_ADD, l.fd, &ev);
  }
  epoll_event events[256];
  while (!g_stop) {
    int n = epoll_wait(ep_, events, 256, 200);
    for (int i = 0; i < n; ++i) {
      uintptr_t tag = events[i].data.u64;
      if (tag & 1) {
        Accept(*reinterpret_cast<const Listener*>(tag & ~uintptr_t(1)));
      } else {
        Handle(reinterpret_cast<Conn*>(tag), events[i].events);
      }
    }
  }
}

void Loop::Accept(const Listener& l) {
  for (int i = 0; i < 64; ++i) {
    int fd = accept4(l.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    Conn* c = new Conn;
    c->fd = fd;
    c->l = &l;
    epoll_event ev = {};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP;
    ev.data.u64 = reinterpret_cast<uintptr_t>(c);
    epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
    Handle(c, EPOLLIN);
  }
}

bool Loop::Write(Conn* c) {
  for (;;) {
    if (c->out_off < c->out_len) {
      ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN) return true;
        if (errno == EINTR) continue;
        Close(c);
        return false;
      }
      c->out_off += size_t(n);
      continue;
    }
    // The current buffer is out.
    switch (c->phase) {
      case Phase::kReply:
        if (c->l->mode == Mode::kHttp) {
          Close(c);
          return false;
        }
        if (c->l->mode == Mode::kSource) {
          c->phase = Phase::kSource;
          break;
        }
        c->phase = c->l->mode == Mode::kSink ? Phase::kSink : Phase::kDrain;
        return true;
      case Phase::kSource:
        if (c->remaining == 0) {
          shutdown(c->fd, SHUT_WR);
          c->phase = Phase::kDrain;
          return true;
        }
        break;
      case Phase::kCount:
        c->phase = Phase::kDrain;
        return true;
      default:
        return true;
    }
    // kSource: refill.
    size_t chunk = c->remaining < source_.size() ? size_t(c->remaining) : source_.size();
    c->out = source_.data();
    c->out_len = chunk;
    c->out_off = 0;
    c->remaining -= chunk;
  }
}

void Loop::Handle(Conn* c, uint32_t events) {
  if (events & EPOLLIN || events & EPOLLRDHUP || events & EPOLLHUP || events & EPOLLERR) {
    for (;;) {
      ssize_t n = recv(c->fd, buf_.data(), buf_.size(), 0);
      if (n < 0) {
        if (errno == EAGAIN) break;
        if (errno == EINTR) continue;
        Close(c);
        return;
      }
      if (n == 0) {  // EOF
        if (c->phase == Phase::kSink) {
          memcpy(c->count_buf, &c->counted, 8);
          c->phase = Phase::kCount;
          c->out = reinterpret_cast<const char*>(c->count_buf);
          c->out_len = 8;
          c->out_off = 0;
          Write(c);
          return;
        }
        if (c->phase == Phase::kSource || c->phase == Phase::kReply) break;  // half-closed
        Close(c);
        return;
      }
      switch (c->phase) {
        case Phase::kRequest:
          c->in.append(buf_.data(), size_t(n));
          if (c->in.size() > (1 << 20)) {
            Close(c);
            return;
          }
          if (RequestComplete(c)) {
            c->phase = Phase::kReply;
            c->out = c->l->mode == Mode::kHttp ? kHttpReply : kTlsReply;
            c->out_len = 64;
            c->out_off = 0;
            c->remaining = c->l->mode == Mode::kSource ? c->l->source_bytes : 0;
            if (!Write(c)) return;
          }
          break;
        case Phase::kSink:
          c->counted += uint64_t(n);
          if (c->counted >= c->l->source_bytes) {
            memcpy(c->count_buf, &c->counted, 8);
            c->phase = Phase::kCount;
            c->out = reinterpret_cast<const char*>(c->count_buf);
            c->out_len = 8;
            c->out_off = 0;
            if (!Write(c)) return;
          }
          break;
        default:
          break;  // discard
      }
    }
  }
  if (events & EPOLLOUT && (c->phase == Phase::kReply || c->phase == Phase::kSource ||
                            c->phase == Phase::kCount)) {
    Write(c);
  }
}

int Fail(const std::string& what) {
  fprintf(stderr, "backend: %s\n", what.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1;
  std::vector<Listener> listeners;
  umask(0);
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--threads=", 0) == 0) {
      threads = atoi(a.c_str() + 10);
      if (threads < 1) return Fail("--threads must be >= 1");
      continue;
    }
    size_t colon = a.find(':');
    if (colon == std::string::npos) return Fail("expected PATH:MODE, got " + a);
    std::string path = a.substr(0, colon), mode = a.substr(colon + 1);
    Listener l;
    if (mode == "tls") {
      l.mode = Mode::kTls;
    } else if (mode == "http") {
      l.mode = Mode::kHttp;
    } else if (mode.rfind("sink:", 0) == 0) {
      l.mode = Mode::kSink;
      l.source_bytes = strtoull(mode.c_str() + 5, nullptr, 10);
    } else if (mode.rfind("source:", 0) == 0) {
      l.mode = Mode::kSource;
      l.source_bytes = strtoull(mode.c_str() + 7, nullptr, 10);
    } else {
      return Fail("unknown mode " + mode);
    }
    sockaddr_un sun = {};
    sun.sun_family = AF_UNIX;
    if (path.size() >= sizeof sun.sun_path) return Fail("path too long: " + path);
    memcpy(sun.sun_path, path.data(), path.size());
    unlink(path.c_str());
    l.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l.fd < 0 || bind(l.fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0 ||
        listen(l.fd, 4096) != 0) {
      return Fail(path + ": " + strerror(errno));
    }
    listeners.push_back(l);
  }
  if (listeners.empty()) return Fail("usage: backend [--threads=N] PATH:MODE[:ARG] ...");
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  printf("ready\n");
  fflush(stdout);
  std::vector<std::thread> pool;
  std::vector<std::unique_ptr<Loop>> loops;
  for (int t = 0; t < threads; ++t) loops.push_back(std::make_unique<Loop>(&listeners));
  for (int t = 1; t < threads; ++t) pool.emplace_back([&, t] { loops[t]->Run(); });
  loops[0]->Run();
  for (auto& th : pool) th.join();
  return 0;
}
