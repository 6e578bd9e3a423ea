#include "proxy/relay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

namespace sallyport::proxy {
namespace {

constexpr size_t kSpliceChunk = 1 << 16;  // the default pipe capacity

struct Direction {
  int from = -1;
  int to = -1;
  int pipe_r = -1;
  int pipe_w = -1;
  size_t in_pipe = 0;  // bytes read from `from`, not yet written to `to`
  bool eof = false;    // `from` will send no more
  bool done = false;   // eof, pipe drained, `to` shut down for writing
  uint64_t moved = 0;
};

void SetNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0 && !(flags & O_NONBLOCK)) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

// Moves as much as possible without blocking. Returns true if any byte moved
// or state changed; sets *err to an errno that ends the relay.
bool Pump(Direction& d, int* err) {
  bool progress = false;
  for (;;) {
    if (d.in_pipe == 0 && !d.eof) {
      ssize_t n = splice(d.from, nullptr, d.pipe_w, nullptr, kSpliceChunk,
                         SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        d.in_pipe += static_cast<size_t>(n);
        progress = true;
      } else if (n == 0) {
        d.eof = true;
        progress = true;
      } else if (errno == EINTR) {
        continue;
      } else if (errno != EAGAIN) {
        *err = errno;
        return progress;
      }
    }
    if (d.in_pipe > 0) {
      ssize_t n = splice(d.pipe_r, nullptr, d.to, nullptr, d.in_pipe,
                         SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        d.in_pipe -= static_cast<size_t>(n);
        d.moved += static_cast<uint64_t>(n);
        progress = true;
        continue;  // room again in the pipe: read more
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN) {
        *err = errno;
        return progress;
      }
      return progress;  // `to` is full: wait for POLLOUT
    }
    if (d.eof && !d.done) {
      shutdown(d.to, SHUT_WR);
      d.done = true;
      progress = true;
    }
    return progress;  // nothing in the pipe and `from` would block, or done
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
  int p1[2], p2[2];
  if (pipe2(p1, O_NONBLOCK | O_CLOEXEC) != 0) {
    result.end = RelayResult::End::kError;
    result.error = errno;
    return result;
  }
  if (pipe2(p2, O_NONBLOCK | O_CLOEXEC) != 0) {
    result.end = RelayResult::End::kError;
    result.error = errno;
    close(p1[0]);
    close(p1[1]);
    return result;
  }
  Direction up{client, backend, p1[0], p1[1]};
  Direction down{backend, client, p2[0], p2[1]};

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
      if (d->in_pipe > 0) {
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
  close(p1[0]);
  close(p1[1]);
  close(p2[0]);
  close(p2[1]);
  return result;
}

}  // namespace sallyport::proxy
