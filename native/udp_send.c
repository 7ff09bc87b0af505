// Batched TFTP DATA sending: one sendmmsg(2) for a whole window instead of one Node send each.
// A windowed transfer is bound by per-datagram CPU; Node's dgram.send spends more of it in
// JavaScript and libuv bookkeeping than the kernel spends sending. The headers are built here
// from block numbers, the payloads are sent straight out of the caller's buffers (no copy).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "udp_send.h"



#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

// Set when the kernel has no UDP GSO (before Linux 4.18): every batch then uses sendmmsg.
static int gso_unsupported = 0;
static __thread uint8_t stage[65536];

// UDP GSO (UDP_SEGMENT): blocks of equal size leave as one buffer that the kernel (or the NIC)
// cuts into datagrams, so the stack is walked once per ~44 datagrams instead of once each.
// Returns datagrams sent, or -errno when the first message failed.
static int send_gso(int fd, const struct sockaddr_storage *ss, socklen_t sslen, const uint8_t *hdr,
                    uint8_t *const *ptrs, const size_t *lens, uint32_t count, size_t seg) {
  uint32_t per = (uint32_t)(65507 / seg);
  if (per > 64) per = 64; // UDP_MAX_SEGMENTS of older kernels
  uint32_t done = 0;
  while (done < count) {
    uint32_t n = count - done;
    if (n > per) n = per;
    size_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
      memcpy(stage + off, hdr + 4 * (done + i), 4);
      memcpy(stage + off + 4, ptrs[done + i], lens[done + i]);
      off += 4 + lens[done + i];
    }
    struct iovec iov = {stage, off};
    union {
      char buf[CMSG_SPACE(sizeof(uint16_t))];
      struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_name = (void *)ss;
    mh.msg_namelen = sslen;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (n > 1) {
      mh.msg_control = control.buf;
      mh.msg_controllen = sizeof control.buf;
      struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
      cm->cmsg_level = SOL_UDP;
      cm->cmsg_type = UDP_SEGMENT;
      cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t gso = (uint16_t)seg;
      memcpy(CMSG_DATA(cm), &gso, sizeof gso);
    }
    ssize_t r = sendmsg(fd, &mh, MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      return done > 0 ? (int)done : -errno;
    }
    done += n;
  }
  return (int)done;
}

int parse_address(const char *addr, int port, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *sin = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    *len = sizeof *sin;
    return AF_INET;
  }
  if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t)port);
    *len = sizeof *sin6;
    return AF_INET6;
  }
  return -1;
}

// Sends DATA datagrams (opcode 3, blocks[i], payloads ptrs[i]/lens[i]) for i < count (<= 64), in
// order. Returns how many left (the rest are the caller's to send later), or -errno when none did.
int send_data_blocks(int fd, const struct sockaddr_storage *ss, socklen_t sslen, const uint16_t *blocks,
                     uint8_t *const *ptrs, const size_t *lens, uint32_t count) {
  uint8_t hdr[4 * MAX_BATCH];
  for (uint32_t i = 0; i < count; i++) {
    hdr[4 * i] = 0;
    hdr[4 * i + 1] = 3;
    hdr[4 * i + 2] = (uint8_t)(blocks[i] >> 8);
    hdr[4 * i + 3] = (uint8_t)(blocks[i] & 0xff);
  }
  int sent = 0;
  int err = 0;
  // GSO needs every datagram but the last of equal size (a window of full blocks, the file's
  // short last block at its end).
  static int gso_off = -1;
  if (gso_off < 0) gso_off = getenv("PXEPOOL_NO_GSO") != NULL;
  int equal = count >= 2 && lens[0] > 0 && !gso_unsupported && !gso_off;
  for (uint32_t i = 1; equal && i < count; i++)
    if (i + 1 < count ? lens[i] != lens[0] : lens[i] > lens[0]) equal = 0;
  if (equal) {
    int r = send_gso(fd, ss, sslen, hdr, ptrs, lens, count, 4 + lens[0]);
    if (r >= 0 || r == -EAGAIN || r == -EWOULDBLOCK) return r;
    // No GSO here (old kernel), or not for this path (a segment larger than the MTU): sendmmsg.
    if (r == -ENOPROTOOPT || r == -EOPNOTSUPP) gso_unsupported = 1;
  }
  // One message per block, header and payload as two iovecs (built only when GSO did not send).
  struct mmsghdr msgs[MAX_BATCH];
  struct iovec iov[2 * MAX_BATCH];
  memset(msgs, 0, sizeof msgs[0] * count);
  for (uint32_t i = 0; i < count; i++) {
    iov[2 * i].iov_base = hdr + 4 * i;
    iov[2 * i].iov_len = 4;
    iov[2 * i + 1].iov_base = ptrs[i];
    iov[2 * i + 1].iov_len = lens[i];
    msgs[i].msg_hdr.msg_name = (void *)ss;
    msgs[i].msg_hdr.msg_namelen = sslen;
    msgs[i].msg_hdr.msg_iov = &iov[2 * i];
    msgs[i].msg_hdr.msg_iovlen = lens[i] > 0 ? 2 : 1;
  }
  while ((uint32_t)sent < count) {
    int r = sendmmsg(fd, msgs + sent, count - sent, MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    if (r == 0) break;
    sent += r;
  }
  return sent > 0 || err == 0 ? sent : -err;
}

// A non-blocking UDP socket bound to addr:port, or -1 with a JavaScript error thrown (`what` names
// the caller). `bound_port`, when given, receives the port (the kernel's choice for port 0).
int open_bound_udp(napi_env env, const char *what, const char *addr, int port, int *bound_port) {
  struct sockaddr_storage ss;
  socklen_t sslen = 0;
  char msg[128];
  int family = parse_address(addr, port, &ss, &sslen);
  if (family < 0) {
    snprintf(msg, sizeof msg, "%s: bad IP address", what);
    napi_throw_type_error(env, NULL, msg);
    return -1;
  }
  int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    snprintf(msg, sizeof msg, "%s: socket: %s", what, strerror(errno));
    napi_throw_error(env, NULL, msg);
    return -1;
  }
  if (bind(fd, (struct sockaddr *)&ss, sslen) < 0 || (bound_port && getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0)) {
    int e = errno;
    close(fd);
    snprintf(msg, sizeof msg, "%s: bind: %s", what, strerror(e));
    napi_throw_error(env, NULL, msg);
    return -1;
  }
  if (bound_port)
    *bound_port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port : ((struct sockaddr_in6 *)&ss)->sin6_port);
  return fd;
}

// openUdp(address: string, port: number) -> fd, bound, for dgram's bind({ fd }): a socket whose
// descriptor we know without reaching into Node's private handle.
static napi_value open_udp(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char addr[64] = {0};
  size_t len = 0;
  int32_t port = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_string_utf8(env, argv[0], addr, sizeof addr, &len) != napi_ok ||
      napi_get_value_int32(env, argv[1], &port) != napi_ok || port < 0 || port > 65535) {
    napi_throw_type_error(env, NULL, "openUdp(address, port)");
    return NULL;
  }
  int fd = open_bound_udp(env, "openUdp", addr, port, NULL);
  if (fd < 0) return NULL;
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

// Reads the blocks (Uint16Array) and payloads (Uint8Array[]) arguments of a window, count <= 64,
// into the given arrays; -1 with a JavaScript error thrown (`what` names the caller) when invalid.
int read_window(napi_env env, const char *what, napi_value vblocks, napi_value vpayloads, uint32_t count, uint16_t *blocks,
                       uint8_t **ptrs, size_t *lens) {
  napi_typedarray_type type;
  size_t nblocks = 0;
  void *bdata = NULL;
  uint32_t npayloads = 0;
  char msg[128];
  if (napi_get_typedarray_info(env, vblocks, &type, &nblocks, &bdata, NULL, NULL) != napi_ok ||
      type != napi_uint16_array || napi_get_array_length(env, vpayloads, &npayloads) != napi_ok) {
    snprintf(msg, sizeof msg, "%s: blocks must be a Uint16Array, payloads an array", what);
    napi_throw_type_error(env, NULL, msg);
    return -1;
  }
  if (count > MAX_BATCH || count > nblocks || count > npayloads) {
    snprintf(msg, sizeof msg, "%s: count exceeds the batch, blocks or payloads", what);
    napi_throw_range_error(env, NULL, msg);
    return -1;
  }
  memcpy(blocks, bdata, count * sizeof *blocks);
  for (uint32_t i = 0; i < count; i++) {
    napi_value el;
    void *p = NULL;
    size_t plen = 0;
    if (napi_get_element(env, vpayloads, i, &el) != napi_ok ||
        napi_get_typedarray_info(env, el, &type, &plen, &p, NULL, NULL) != napi_ok || type != napi_uint8_array) {
      snprintf(msg, sizeof msg, "%s: payloads must be Uint8Arrays", what);
      napi_throw_type_error(env, NULL, msg);
      return -1;
    }
    ptrs[i] = p;
    lens[i] = plen;
  }
  return 0;
}

// sendBlocks(fd, address, port, blocks: Uint16Array, payloads: Uint8Array[], count) -> number
// Sends DATA datagrams (opcode 3, blocks[i], payloads[i]) for i < count, in order. Returns how
// many left (the rest are the caller's to send another way), or -errno when none did.
static napi_value send_blocks(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  char addr[64] = {0};
  size_t len = 0;
  int32_t fd = -1, port = 0;
  uint32_t count = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 6 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], addr, sizeof addr, &len) != napi_ok ||
      napi_get_value_int32(env, argv[2], &port) != napi_ok || port <= 0 || port > 65535 ||
      napi_get_value_uint32(env, argv[5], &count) != napi_ok) {
    napi_throw_type_error(env, NULL, "sendBlocks(fd, address, port, blocks, payloads, count)");
    return NULL;
  }
  uint16_t blocks[MAX_BATCH];
  uint8_t *ptrs[MAX_BATCH];
  size_t lens[MAX_BATCH];
  if (read_window(env, "sendBlocks", argv[3], argv[4], count, blocks, ptrs, lens) < 0) return NULL;
  struct sockaddr_storage ss;
  socklen_t sslen = 0;
  if (parse_address(addr, port, &ss, &sslen) < 0) {
    // e.g. a scoped IPv6 literal: the caller sends through Node instead
    napi_value result;
    napi_create_int32(env, -EAFNOSUPPORT, &result);
    return result;
  }
  napi_value result;
  napi_create_int32(env, send_data_blocks(fd, &ss, sslen, blocks, ptrs, lens, count), &result);
  return result;
}

void register_udp_send(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "openUdp", NAPI_AUTO_LENGTH, open_udp, NULL, &fn);
  napi_set_named_property(env, exports, "openUdp", fn);
  napi_create_function(env, "sendBlocks", NAPI_AUTO_LENGTH, send_blocks, NULL, &fn);
  napi_set_named_property(env, exports, "sendBlocks", fn);
}
