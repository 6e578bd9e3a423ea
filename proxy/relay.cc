// SPDX-License-Identifier: Apache-2.0
#include "proxy/relay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"

namespace sallyport::proxy {
namespace {

constexpr size_t kSpliceChunk = 1 << 16;  // the default pipe capacity
// Once a direction has moved this much it keeps its pipe and grows it to
// kBigPipe: bulk transfers then need a quarter of the splice calls. Not
// earlier: pipe pages count against fs.pipe-user-pages-soft for the whole
// user, and idle connections must stay small.
constexpr uint64_t kGrowPipeAfter = 1 << 20;
constexpr int kBigPipe = 1 << 20;
// Splices per direction before other connections get their turn.
constexpr int kMaxRounds = 16;
// Empty default-size pipes kept for the next connection that has bytes.
constexpr size_t kMaxSparePipes = 32;
constexpr int kMaxEvents = 64;
// epoll data of the watched fd; connections carry (generation << 32) | slot
// with generation >= 1.
constexpr uint64_t kWatchTag = 0;

int SetNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return -errno;
  if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return -errno;
  return 0;
}

}  // namespace

struct RelayLoop::Flow {
  int from = -1;
  int to = -1;
  int pipe_r = -1;     // owned only while bytes wait in it, or once grown
  int pipe_w = -1;
  bool grown = false;
  size_t pending = 0;  // bytes in the pipe, not yet written to `to`
  bool eof = false;    // `from` will send no more
  bool done = false;   // eof, drained, `to` shut down for writing
  uint64_t moved = 0;
};

struct RelayLoop::Conn {
  uint64_t id = 0;
  uint32_t slot = 0;
  uint32_t generation = 0;  // epoll data: (generation << 32) | slot
  int client = -1;
  int backend = -1;
  Flow up;    // client -> backend
  Flow down;  // backend -> client
  bool live = false;
  bool runnable = false;
  uint64_t seen = 0;  // the Poll round that last pumped it
  int64_t last = 0;   // last progress, CLOCK_MONOTONIC ms
  Conn* prev = nullptr;
  Conn* next = nullptr;
};



absl::StatusOr<std::unique_ptr<RelayLoop>> RelayLoop::Create(int idle_timeout_ms,
                                                             int watch_fd) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return absl::InternalError(absl::StrCat("epoll_create1: ", strerror(errno)));
  if (watch_fd >= 0) {
    epoll_event ev = {};
    ev.events = EPOLLIN;
    ev.data.u64 = kWatchTag;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, watch_fd, &ev) != 0) {
      int e = errno;
      close(ep);
      return absl::InternalError(absl::StrCat("epoll_ctl: ", strerror(e)));
    }
  }
  return std::unique_ptr<RelayLoop>(new RelayLoop(ep, idle_timeout_ms, watch_fd));
}

RelayLoop::RelayLoop(int epoll_fd, int idle_timeout_ms, int watch_fd)
    : epoll_fd_(epoll_fd), idle_timeout_ms_(idle_timeout_ms), watch_fd_(watch_fd) {}

RelayLoop::~RelayLoop() {
  std::vector<RelayResult> ignored;
  StopAll(&ignored);
  for (auto& [r, w] : spare_pipes_) {
    close(r);
    close(w);
  }
  close(epoll_fd_);
}

size_t RelayLoop::pipes_held() const {
  size_t n = spare_pipes_.size();
  for (const auto& c : slots_) {
    if (!c->live) continue;
    n += (c->up.pipe_r >= 0) + (c->down.pipe_r >= 0);
  }
  return n;
}

int RelayLoop::Add(uint64_t id, int client, int backend) {
  int rc = SetNonBlocking(client);
  if (rc == 0) rc = SetNonBlocking(backend);
  if (rc != 0) {
    close(client);
    close(backend);
    return rc;
  }
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.push_back(std::make_unique<Conn>());
  }
  Conn& c = *slots_[slot];
  const uint32_t generation = c.generation + 1;
  c = Conn{};
  c.generation = generation;
  c.slot = slot;
  c.id = id;
  c.client = client;
  c.backend = backend;
  c.up.from = client;
  c.up.to = backend;
  c.down.from = backend;
  c.down.to = client;
  epoll_event ev = {};
  // Edge-triggered: every pump goes on until EAGAIN on one side, and the
  // next edge on that side resumes it. Registering a socket that already
  // has bytes queues its first event at once.
  ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
  ev.data.u64 = (uint64_t{generation} << 32) | slot;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, client, &ev) != 0 ||
      epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, backend, &ev) != 0) {
    rc = -errno;
    close(client);
    close(backend);
    c.client = c.backend = -1;
    free_slots_.push_back(slot);
    return rc;
  }
  c.live = true;
  ++live_;
  c.last = MonotonicMillis();
  c.prev = lru_tail_;
  if (lru_tail_ != nullptr) lru_tail_->next = &c;
  lru_tail_ = &c;
  if (lru_head_ == nullptr) lru_head_ = &c;
  return 0;
}

void RelayLoop::Unlink(Conn& c) {
  if (c.prev != nullptr) c.prev->next = c.next; else lru_head_ = c.next;
  if (c.next != nullptr) c.next->prev = c.prev; else lru_tail_ = c.prev;
  c.prev = c.next = nullptr;
}

void RelayLoop::Touch(Conn& c, int64_t now) {
  c.last = now;
  if (lru_tail_ == &c) return;
  Unlink(c);
  c.prev = lru_tail_;
  if (lru_tail_ != nullptr) lru_tail_->next = &c;
  lru_tail_ = &c;
  if (lru_head_ == nullptr) lru_head_ = &c;
}

bool RelayLoop::TakePipe(Flow& f) {
  if (!spare_pipes_.empty()) {
    f.pipe_r = spare_pipes_.back().first;
    f.pipe_w = spare_pipes_.back().second;
    spare_pipes_.pop_back();
    return true;
  }
  int p[2];
  if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) return false;
  f.pipe_r = p[0];
  f.pipe_w = p[1];
  return true;
}

void RelayLoop::ReleasePipe(Flow& f) {
  if (f.pipe_r < 0) return;
  if (f.pending == 0 && !f.grown && spare_pipes_.size() < kMaxSparePipes) {
    spare_pipes_.emplace_back(f.pipe_r, f.pipe_w);
  } else {
    close(f.pipe_r);
    close(f.pipe_w);
  }
  f.pipe_r = f.pipe_w = -1;
}

void RelayLoop::Finish(Conn& c, RelayResult::End end, int error,
                       std::vector<RelayResult>* done) {
  if (!c.live) return;
  RelayResult r;
  r.id = c.id;
  r.end = end;
  r.error = error;
  r.client_to_backend = c.up.moved;
  r.backend_to_client = c.down.moved;
  done->push_back(r);
  ReleasePipe(c.up);
  ReleasePipe(c.down);
  close(c.client);
  close(c.backend);
  c.client = c.backend = -1;
  Unlink(c);
  if (c.runnable) {
    runnable_.erase(std::find(runnable_.begin(), runnable_.end(), &c));
    c.runnable = false;
  }
  c.live = false;
  --live_;
  free_slots_.push_back(c.slot);
}

// Returns 0 or the errno that ends the connection.
int RelayLoop::PumpFlow(Flow& f, bool* progress, bool* more) {
  for (int round = 0; round < kMaxRounds; ++round) {
    if (f.pending == 0 && !f.eof) {
      if (f.pipe_r < 0 && !TakePipe(f)) return errno;
      ssize_t n = splice(f.from, nullptr, f.pipe_w, nullptr, f.grown ? kBigPipe : kSpliceChunk,
                         SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        f.pending = static_cast<size_t>(n);
        *progress = true;
      } else if (n == 0) {
        f.eof = true;
        *progress = true;
      } else if (errno == EINTR) {
        continue;
      } else if (errno == EAGAIN) {
        if (!f.grown) ReleasePipe(f);
        return 0;
      } else {
        return errno;
      }
    }
    if (f.pending > 0) {
      ssize_t n = splice(f.pipe_r, nullptr, f.to, nullptr, f.pending,
                         SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        f.pending -= static_cast<size_t>(n);
        f.moved += static_cast<uint64_t>(n);
        *progress = true;
        if (!f.grown && f.moved >= kGrowPipeAfter) {
          f.grown = true;  // best effort: a refusal keeps the small pipe
          fcntl(f.pipe_w, F_SETPIPE_SZ, kBigPipe);
        }
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN) return errno;
      return 0;  // `to` is full: its EPOLLOUT edge resumes
    }
    if (f.eof && !f.done) {
      shutdown(f.to, SHUT_WR);
      f.done = true;
      ReleasePipe(f);
      *progress = true;
    }
    return 0;
  }
  *more = true;
  return 0;
}

bool RelayLoop::Pump(Conn& c, int64_t now, std::vector<RelayResult>* done) {
  bool progress = false, more = false;
  int err = 0;
  if (!c.up.done) err = PumpFlow(c.up, &progress, &more);
  if (err == 0 && !c.down.done) err = PumpFlow(c.down, &progress, &more);
  if (err != 0) {
    Finish(c, (err == EPIPE || err == ECONNRESET) ? RelayResult::End::kReset
                                                  : RelayResult::End::kError,
           err, done);
    return true;
  }
  if (c.up.done && c.down.done) {
    Finish(c, RelayResult::End::kClosed, 0, done);
    return true;
  }
  if (progress) Touch(c, now);
  if (more && !c.runnable) {
    c.runnable = true;
    runnable_.push_back(&c);
  }
  return false;
}

bool RelayLoop::Poll(int timeout_ms, std::vector<RelayResult>* done) {
  int64_t now = MonotonicMillis();
  const size_t ended_before = done->size();
  while (lru_head_ != nullptr && lru_head_->last + idle_timeout_ms_ <= now) {
    Finish(*lru_head_, RelayResult::End::kIdleTimeout, 0, done);
  }
  int wait = timeout_ms;
  if (!runnable_.empty() || done->size() > ended_before) {  // news to hand back now
    wait = 0;
  } else if (lru_head_ != nullptr) {
    int64_t left = lru_head_->last + idle_timeout_ms_ - now;
    int l = static_cast<int>(std::min<int64_t>(left, INT32_MAX));
    wait = wait < 0 ? l : std::min(wait, l);
  }
  epoll_event events[kMaxEvents];
  int n = epoll_wait(epoll_fd_, events, kMaxEvents, wait);
  now = MonotonicMillis();
  const uint64_t round = ++round_;
  bool watch_ready = false;
  std::vector<Conn*> run;
  run.swap(runnable_);
  for (Conn* c : run) {
    c->runnable = false;
    c->seen = round;
  }
  for (int i = 0; i < n; ++i) {
    const uint64_t tag = events[i].data.u64;
    if (tag == kWatchTag) {
      watch_ready = true;
      continue;
    }
    const uint32_t slot = static_cast<uint32_t>(tag);
    if (slot >= slots_.size()) continue;
    Conn& c = *slots_[slot];
    if (!c.live || c.generation != static_cast<uint32_t>(tag >> 32) || c.seen == round) {
      continue;  // stale, or already in this round
    }
    c.seen = round;
    run.push_back(&c);
  }
  for (Conn* c : run) {
    if (c->live) Pump(*c, now, done);
  }
  return watch_ready;
}

void RelayLoop::StopAll(std::vector<RelayResult>* done) {
  for (auto& c : slots_) {
    if (c->live) Finish(*c, RelayResult::End::kStopped, 0, done);
  }
}

int64_t MonotonicMillis() noexcept {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

int WriteAll(int fd, absl::string_view bytes, int64_t deadline_ms) noexcept {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + off, bytes.size() - off,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return -errno;
    int64_t left = deadline_ms - MonotonicMillis();
    if (left <= 0) return -ETIMEDOUT;
    struct pollfd p = {fd, POLLOUT, 0};
    if (poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR) return -errno;
  }
  return 0;
}

}  // namespace sallyport::proxy
