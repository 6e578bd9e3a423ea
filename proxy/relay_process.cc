// SPDX-License-Identifier: Apache-2.0
#include "proxy/relay_process.h"

#include <errno.h>
#include <linux/filter.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "proxy/exec_helper.h"
#include "proxy/handoff.h"

namespace sallyport::proxy {
namespace {

static_assert(std::is_trivially_copyable_v<RelaySetup>, "sent as bytes");
static_assert(std::is_trivially_copyable_v<RelayAdd>, "sent as bytes");
static_assert(std::is_trivially_copyable_v<RelayDone>, "sent as bytes");
static_assert(sizeof kRelayArgv0 <= 32, "fits ExecHelper's argv[0]");

int SocketOption(int fd, int option, int* value) {
  socklen_t len = sizeof *value;
  if (getsockopt(fd, SOL_SOCKET, option, value, &len) != 0) return errno;
  return 0;
}

int CheckOne(int fd, bool unix_side) {
  int domain = 0, type = 0;
  if (int e = SocketOption(fd, SO_DOMAIN, &domain); e != 0) return e;
  if (int e = SocketOption(fd, SO_TYPE, &type); e != 0) return e;
  const bool family_ok = unix_side ? domain == AF_UNIX : domain == AF_INET || domain == AF_INET6;
  if (!family_ok || type != SOCK_STREAM) return EPROTOTYPE;
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return errno;
  return 0;
}

void SendDone(const std::vector<RelayResult>& done) {
  for (size_t at = 0; at < done.size(); at += kMaxDonePerMessage) {
    RelayDone batch[kMaxDonePerMessage];
    size_t n = std::min(kMaxDonePerMessage, done.size() - at);
    for (size_t i = 0; i < n; ++i) {
      const RelayResult& r = done[at + i];
      batch[i] = RelayDone{};
      batch[i].end = static_cast<uint8_t>(r.end);
      batch[i].error = r.error;
      batch[i].id = r.id;
      batch[i].up = r.client_to_backend;
      batch[i].down = r.backend_to_client;
    }
    // Blocking: the parent reads its channel in every loop turn.
    if (SendWithFds(kHelperChannelFd, batch, n * sizeof(RelayDone), nullptr, 0, 0) != 0) {
      _exit(0);  // the parent has gone
    }
  }
}

// Takes every RelayAdd waiting on the channel. Exits on EOF.
void TakeConnections(RelayLoop& loop, std::vector<RelayResult>* done) {
  for (;;) {
    RelayAdd add;
    Received got;
    int rc = RecvWithFds(kHelperChannelFd, &add, sizeof add, MSG_DONTWAIT, &got);
    if (rc == -EAGAIN) return;
    if (rc != 0 || got.len == 0) _exit(0);  // the parent closed the channel
    if (got.len != sizeof add || got.truncated || add.magic != kRelayAddMagic) {
      got.CloseFds();
      _exit(2);  // the parent speaks the protocol: this is a bug
    }
    RelayResult r;
    r.id = add.id;
    if (got.fds_truncated) {
      // No room here for its descriptors (RLIMIT_NOFILE): the kernel
      // dropped what did not fit.
      got.CloseFds();
      r.end = RelayResult::End::kError;
      r.error = EMFILE;
      done->push_back(r);
      continue;
    }
    int why = got.nfds == 2 ? CheckRelayPair(got.fds[0], got.fds[1]) : EBADMSG;
    if (why != 0) {
      got.CloseFds();
      r.end = RelayResult::End::kRejected;
      r.error = why;
      done->push_back(r);
      continue;
    }
    if (int e = loop.Add(add.id, got.fds[0], got.fds[1]); e != 0) {
      r.end = RelayResult::End::kError;
      r.error = -e;
      done->push_back(r);
    }
  }
}

}  // namespace

int CheckRelayPair(int client, int backend) noexcept {
  if (int e = CheckOne(client, false); e != 0) return e;
  return CheckOne(backend, true);
}

absl::Status RelayHandle::Start(int exe_fd, int devnull_fd, int idle_timeout_ms,
                                const sandbox::CompiledFilter& filter, int timeout_ms) {
  if (running()) return absl::FailedPreconditionError("relay: already running");
  RelaySetup setup;
  setup.idle_timeout_ms = idle_timeout_ms;
  setup.insns = static_cast<uint32_t>(filter.program().size());
  iovec iov[2] = {
      {&setup, sizeof setup},
      {const_cast<sock_filter*>(filter.program().data()),
       filter.program().size() * sizeof(sock_filter)},
  };
  pid_t pid = -1;
  int fd = -1;
  absl::Status st = StartHelper("relay", kRelayArgv0, exe_fd, devnull_fd, iov, 2,
                                kRelayReadyMagic, timeout_ms, &pid, &fd);
  if (!st.ok()) return st;
  pid_ = pid;
  fd_ = fd;
  return absl::OkStatus();
}

bool RelayHandle::Add(uint64_t id, int client, int backend) {
  if (!running()) {
    close(client);
    close(backend);
    return false;
  }
  Queued q;
  q.msg.id = id;
  q.fds[0] = client;
  q.fds[1] = backend;
  queue_.push_back(q);
  Flush();
  return true;
}

bool RelayHandle::Flush() {
  while (running() && !queue_.empty()) {
    Queued& q = queue_.front();
    int rc = SendWithFds(fd_, &q.msg, sizeof q.msg, q.fds, 2, MSG_DONTWAIT);
    if (rc == -EAGAIN) return false;
    // Sent, or the relay is gone (its end is seen on the next read): either
    // way these copies are done with.
    close(q.fds[0]);
    close(q.fds[1]);
    queue_.pop_front();
    if (rc != 0) return false;
  }
  return queue_.empty();
}

int RelayHandle::ReadDone(RelayDone* out, int* err) {
  if (!running()) {
    *err = ENOTCONN;
    return -1;
  }
  Received got;
  int rc = RecvWithFds(fd_, out, kMaxDonePerMessage * sizeof(RelayDone), MSG_DONTWAIT, &got);
  if (rc == -EAGAIN) return 0;
  if (rc != 0) {
    *err = -rc;
    return -1;
  }
  if (got.len == 0) {
    *err = ESHUTDOWN;
    return -1;
  }
  const bool whole = !got.truncated && got.nfds == 0 && !got.fds_truncated &&
                     got.len % sizeof(RelayDone) == 0;
  got.CloseFds();
  const int n = whole ? static_cast<int>(got.len / sizeof(RelayDone)) : 0;
  for (int i = 0; i < n; ++i) {
    if (out[i].magic != kRelayDoneMagic ||
        out[i].end > static_cast<uint8_t>(RelayResult::End::kRejected)) {
      *err = EBADMSG;
      return -1;
    }
  }
  if (n == 0) {
    *err = EBADMSG;
    return -1;
  }
  return n;
}

pid_t RelayHandle::Stop(bool kill_it) {
  for (Queued& q : queue_) {
    close(q.fds[0]);
    close(q.fds[1]);
  }
  queue_.clear();
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  const pid_t pid = pid_;
  if (pid > 0 && kill_it) kill(pid, SIGKILL);
  pid_ = -1;
  return pid;
}

int RelayMain(char* argv0) {
  if (int rc = HelperPrologue(argv0); rc != 0) return rc;
  // A terminal's ^C or a stop signal sent to the whole process group is the
  // parent's to act on (drain): the relay ends only when the parent closes
  // its channel or dies, so a drain does not lose the connections it holds.
  struct sigaction ign;
  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) {
    if (sigaction(sig, &ign, nullptr) != 0) return 71;
  }
  std::vector<char> buf(sizeof(RelaySetup) + BPF_MAXINSNS * sizeof(sock_filter));
  ssize_t n;
  do {
    n = recv(kHelperChannelFd, buf.data(), buf.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n < static_cast<ssize_t>(sizeof(RelaySetup))) return 65;
  RelaySetup setup;
  memcpy(&setup, buf.data(), sizeof setup);
  if (setup.magic != kRelaySetupMagic || setup.size != sizeof(RelaySetup) ||
      setup.idle_timeout_ms <= 0 || setup.insns == 0 || setup.insns > BPF_MAXINSNS ||
      static_cast<size_t>(n) != sizeof(RelaySetup) + setup.insns * sizeof(sock_filter)) {
    return 65;
  }
  std::vector<sock_filter> program(setup.insns);
  memcpy(program.data(), buf.data() + sizeof(RelaySetup), program.size() * sizeof(sock_filter));
  std::vector<char>().swap(buf);
  auto filter = sandbox::CompiledFilter::FromProgram(program.data(), program.size());
  if (!filter.ok()) return 65;
  std::vector<sock_filter>().swap(program);
  auto loop = RelayLoop::Create(setup.idle_timeout_ms, kHelperChannelFd);
  if (!loop.ok()) return 66;
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return 67;
  HelperReady ready;
  ready.magic = kRelayReadyMagic;
  ready.pid = getpid();
  if (filter->Install() != 0) return 68;
  // sendmsg: the relay filter has no sendto.
  if (SendWithFds(kHelperChannelFd, &ready, sizeof ready, nullptr, 0, 0) != 0) return 69;

  std::vector<RelayResult> done;
  for (;;) {
    done.clear();
    if ((*loop)->Poll(-1, &done)) TakeConnections(**loop, &done);
    if (!done.empty()) SendDone(done);
  }
}

}  // namespace sallyport::proxy
