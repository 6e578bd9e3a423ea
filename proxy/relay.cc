// SPDX-License-Identifier: Apache-2.0
#include "proxy/relay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <memory>

namespace sallyport::proxy {
namespace {

constexpr size_t kSpliceChunk = 1 << 16;  // the default pipe capacity
// Once a direction has moved this much, its pipe is grown to kBigPipe: bulk
// transfers then need a quarter of the splice calls. Not earlier: pipe
// pages count against fs.pipe-user-pages-soft for the whole user (all
// children share the unprivileged uid), and idle connections must stay
// small.
constexpr uint64_t kGrowPipeAfter = 1 << 20;
constexpr int kBigPipe = 1 << 20;
// Backend -> client goes through user space: measured faster than splice
// for a Unix-socket source (bench/RESULTS.md, "Bulk"). The buffer is
// allocated on the first byte of that direction, so an idle connection
// does not pay for it.
constexpr size_t kCopyBuffer = 256 << 10;

struct Direction {
  int from = -1;
  int to = -1;
  bool copy = false;   // recv/send through `buf` instead of splice
  int pipe_r = -1;     // splice mode
  int pipe_w = -1;
  bool grown = false;
  std::unique_ptr<char[]> buf;  // copy mode
  size_t buf_off = 0;
  size_t pending = 0;  // bytes read from `from`, not yet written to `to`
  bool eof = false;    // `from` will send no more
  bool done = false;   // eof, drained, `to` shut down for writing
  uint64_t moved = 0;
};

void SetNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0 && !(flags & O_NONBLOCK)) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

// One read from `from` into the direction's pipe or buffer. Returns >0
// bytes, 0 at EOF, -EAGAIN when nothing is there, or another -errno.
ssize_t Fill(Direction& d) {
  ssize_t n;
  if (d.copy) {
    if (!d.buf) d.buf.reset(new char[kCopyBuffer]);
    n = recv(d.from, d.buf.get(), kCopyBuffer, MSG_DONTWAIT);
    if (n > 0) d.buf_off = 0;
  } else {
    n = splice(d.from, nullptr, d.pipe_w, nullptr, d.grown ? kBigPipe : kSpliceChunk,
               SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  }
  return n < 0 ? -errno : n;
}

// One write of pending bytes to `to`. Returns >0 bytes, -EAGAIN, or -errno.
ssize_t Drain(Direction& d) {
  ssize_t n;
  if (d.copy) {
    n = send(d.to, d.buf.get() + d.buf_off, d.pending, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) d.buf_off += static_cast<size_t>(n);
  } else {
    n = splice(d.pipe_r, nullptr, d.to, nullptr, d.pending,
               SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  }
  return n < 0 ? -errno : n;
}

// Moves as much as possible without blocking. Returns true if any byte moved
// or state changed; sets *err to an errno that ends the relay.
bool Pump(Direction& d, int* err) {
  bool progress = false;
  for (;;) {
    if (d.pending == 0 && !d.eof) {
      ssize_t n = Fill(d);
      if (n > 0) {
        d.pending = static_cast<size_t>(n);
        progress = true;
      } else if (n == 0) {
        d.eof = true;
        progress = true;
      } else if (n == -EINTR) {
        continue;
      } else if (n != -EAGAIN) {
        *err = static_cast<int>(-n);
        return progress;
      }
    }
    if (d.pending > 0) {
      ssize_t n = Drain(d);
      if (n > 0) {
        d.pending -= static_cast<size_t>(n);
        d.moved += static_cast<uint64_t>(n);
        progress = true;
        if (!d.copy && !d.grown && d.moved >= kGrowPipeAfter) {
          d.grown = true;  // best effort: a refusal keeps the small pipe
          fcntl(d.pipe_w, F_SETPIPE_SZ, kBigPipe);
        }
        continue;  // room again: read more
      }
      if (n == -EINTR) continue;
      if (n != -EAGAIN) {
        *err = static_cast<int>(-n);
        return progress;
      }
      return progress;  // `to` is full: wait for POLLOUT
    }
    if (d.eof && !d.done) {
      shutdown(d.to, SHUT_WR);
      d.done = true;
      progress = true;
    }
    return progress;  // nothing pending and `from` would block, or done
  }
}

}  // namespace

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

RelayResult Relay(int client, int backend, int idle_timeout_ms) noexcept {
  RelayResult result;
  SetNonBlocking(client);
  SetNonBlocking(backend);
  int p[2];
  if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) {
    result.end = RelayResult::End::kError;
    result.error = errno;
    return result;
  }
  Direction up;  // client -> backend: splice through the pipe
  up.from = client;
  up.to = backend;
  up.pipe_r = p[0];
  up.pipe_w = p[1];
  Direction down;  // backend -> client: recv/send
  down.from = backend;
  down.to = client;
  down.copy = true;

  int64_t last_progress = MonotonicMillis();
  for (;;) {
    int err = 0;
    bool progress = false;
    if (!up.done) progress |= Pump(up, &err);
    if (err == 0 && !down.done) progress |= Pump(down, &err);
    if (err != 0) {
      result.end = (err == EPIPE || err == ECONNRESET) ? RelayResult::End::kReset
                                                       : RelayResult::End::kError;
      result.error = err;
      break;
    }
    if (up.done && down.done) break;
    int64_t now = MonotonicMillis();
    if (progress) last_progress = now;

    struct pollfd fds[2];
    int n = 0;
    for (Direction* d : {&up, &down}) {
      if (d->done) continue;
      if (d->pending > 0) {
        fds[n++] = {d->to, POLLOUT, 0};
      } else {
        fds[n++] = {d->from, POLLIN, 0};
      }
    }
    int64_t left = last_progress + idle_timeout_ms - now;
    if (left <= 0) {
      result.end = RelayResult::End::kIdleTimeout;
      break;
    }
    int r = poll(fds, n, static_cast<int>(left));
    if (r < 0 && errno != EINTR) {
      result.end = RelayResult::End::kError;
      result.error = errno;
      break;
    }
  }
  result.client_to_backend = up.moved;
  result.backend_to_client = down.moved;
  close(p[0]);
  close(p[1]);
  return result;
}

}  // namespace sallyport::proxy
