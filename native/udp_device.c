// Opens a UDP socket bound to one network device (SO_BINDTODEVICE) and hands its descriptor to
// Node's dgram (socket.bind({ fd })). Node cannot set this option itself, and without it a
// multi-homed ProxyDHCP server cannot tell which interface a broadcast DISCOVER arrived on.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <net/if.h>
#include <netinet/in.h>
#include <node_api.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "udp_send.h"

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

// openUdpOnDevice(device: string, address: string, port: number, rcvbuf: number) -> fd
static napi_value open_udp_on_device(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4) {
    napi_throw_type_error(env, NULL, "openUdpOnDevice(device, address, port, rcvbuf)");
    return NULL;
  }
  char dev[IFNAMSIZ + 1] = {0};
  char addr[64] = {0};
  size_t len = 0;
  int32_t port = 0, rcvbuf = 0;
  if (napi_get_value_string_utf8(env, argv[0], dev, sizeof dev, &len) != napi_ok || len == 0 || len >= IFNAMSIZ ||
      napi_get_value_string_utf8(env, argv[1], addr, sizeof addr, &len) != napi_ok ||
      napi_get_value_int32(env, argv[2], &port) != napi_ok || port < 0 || port > 65535 ||
      napi_get_value_int32(env, argv[3], &rcvbuf) != napi_ok) {
    napi_throw_type_error(env, NULL, "openUdpOnDevice: bad arguments");
    return NULL;
  }
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
    napi_throw_type_error(env, NULL, "openUdpOnDevice: bad IPv4 address");
    return NULL;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one) < 0) {
    int e = errno; close(fd); return throw_errno(env, "setsockopt", e);
  }
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, (socklen_t)strlen(dev)) < 0) {
    int e = errno; close(fd); return throw_errno(env, "SO_BINDTODEVICE", e);
  }
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = errno; close(fd); return throw_errno(env, "bind", e);
  }
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "openUdpOnDevice", NAPI_AUTO_LENGTH, open_udp_on_device, NULL, &fn);
  napi_set_named_property(env, exports, "openUdpOnDevice", fn);
  register_udp_send(env, exports);
  register_tftp_socket(env, exports);
  register_neighbour_advert(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
