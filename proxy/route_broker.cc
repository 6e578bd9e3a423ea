// SPDX-License-Identifier: Apache-2.0
#include "proxy/route_broker.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "policy/ownership.h"
#include "sandbox/resolve.h"

namespace sallyport::proxy {

BrokerResult Broker(absl::string_view name, Protocol protocol,
                    const parser::ProxyEndpoints& endpoints,
                    std::optional<uid_t> unmapped_uid) {
  BrokerResult out;
  sandbox::FsLookup fs(unmapped_uid);
  absl::StatusOr<policy::Route> route = policy::DecideRoute(
      name, protocol == Protocol::kTls ? policy::kTlsSocket : policy::kHttpSocket, fs);
  if (!route.ok()) {
    out.kind = BrokerResult::kNoRoute;
    out.detail = std::string(route.status().message());
    return out;
  }
  int fd = sandbox::ConnectRoute(*route, unmapped_uid, /*nonblocking=*/true);
  if (fd == -EAGAIN) {
    out.kind = BrokerResult::kBusy;
    out.detail = absl::StrCat("backend ", route->dir, "/", route->socket_name,
                              ": its listen queue is full");
    return out;
  }
  if (fd < 0) {
    out.kind = BrokerResult::kBackendDown;
    out.detail = absl::StrCat("backend ", route->dir, "/", route->socket_name, ": ",
                              strerror(-fd));
    return out;
  }
  std::string header;
  if (route->proxy == policy::Route::kV1) {
    header = parser::EncodeProxyV1(endpoints);
    out.proxy_header_sent = 1;
  } else if (route->proxy == policy::Route::kV2) {
    header = parser::EncodeProxyV2(endpoints, name);
    out.proxy_header_sent = 2;
  }
  if (!header.empty()) {
    // A fresh Unix stream socket has an empty send buffer far larger than
    // any header: one send writes it all, or the backend is gone.
    ssize_t n = send(fd, header.data(), header.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n != static_cast<ssize_t>(header.size())) {
      int err = n < 0 ? errno : EAGAIN;
      close(fd);
      out.kind = BrokerResult::kBackendDown;
      out.proxy_header_sent = 0;
      out.detail = absl::StrCat("PROXY header to backend ", route->dir, "/",
                                route->socket_name, ": ", strerror(err));
      return out;
    }
  }
  out.kind = BrokerResult::kRouted;
  out.backend = fd;
  return out;
}

}  // namespace sallyport::proxy
