// A TFTP transfer socket whose receive path bypasses Node's dgram, with a pre-armed next window.
//
// Why: a windowed or lock-step transfer on a LAN is bound by its turnaround, the time from the
// client's ACK arriving to the next DATA leaving. Through dgram that is an epoll wake, a 64 KiB
// allocation, recvmsg, a Buffer, an rinfo object and an EventEmitter dispatch per datagram, and
// then a second recvmsg that returns EAGAIN: measured 83 us (p50) against atftpd's 47 us.
//
// Here the socket is watched with a uv_poll handle on Node's own loop. A readable socket is
// drained with recvmmsg into one shared buffer that JavaScript reads in place, and JavaScript is
// called once per wake. The transfer machine stays the only place that decides what to send:
// after each step the edge asks it which ACK completes what it has sent and which window would
// follow, and arms that window here. When exactly that ACK arrives from the client, the window
// leaves before JavaScript runs; the machine then processes the ACK as usual and the edge skips
// the blocks that already left. Sending DATA n always sends the same bytes, so a window the
// machine did not want after all is a duplicate the client ignores, never wrong data, and it is
// only ever sent in answer to a real ACK (no amplification).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "udp_send.h"

// Received datagrams, as JavaScript sees them: RX_BATCH slots of RX_SLOT bytes.
//   [0..1] length copied (LE)   [2] flags   [3] address family (4 or 6)
//   [4..5] source port (LE)     [8..23] source address   [32..] datagram (at most RX_DATA bytes)
// A read transfer only ever needs ACKs (4 bytes) and ERRORs (short) from its client; anything
// longer is cut and flagged, which is enough to answer a stranger with ERROR 5.
#define RX_BATCH 32
#define RX_DATA 1024
#define RX_HEAD 32
#define RX_SLOT (RX_HEAD + RX_DATA)
#define F_PEER 1
#define F_FIRED 2
#define F_TRUNC 4

static uint8_t *rx = NULL;
static napi_ref rx_ref = NULL;
// The buffer belongs to the first environment that loads the helper; a worker thread loading it
// again gets no tftp socket (tsockRxBuffer returns undefined) and uses dgram.
static napi_env rx_env = NULL;

typedef struct {
  uv_poll_t poll;
  int fd;
  int events;
  int closing;
  napi_env env;
  napi_ref cb;
  struct sockaddr_storage peer;
  socklen_t peerlen;
  int have_peer;
  uint32_t armed; // blocks in the armed window, 0 when disarmed
  uint16_t arm_ack;
  uint16_t arm_blocks[MAX_BATCH];
  uint8_t *arm_ptrs[MAX_BATCH];
  size_t arm_lens[MAX_BATCH];
  uint32_t fired; // windows sent by the fast path (statistics)
  uint32_t spin_skip; // wakes left before waiting for the client again (see on_poll)
} tsock;

// How long the lone transfer waits for its client's next ACK before sleeping in epoll: 0 = never.
static uint64_t spin_ns = 0;
#define SPIN_SLICE_NS 2000000u
static int open_sockets = 0;
// One async context for every transfer socket: creating one per socket cost more than the socket
// itself in a 500-request burst, and they would all carry the same name anyway.
static napi_async_context actx = NULL;

static int same_peer(const tsock *s, const struct sockaddr_storage *a) {
  if (!s->have_peer || a->ss_family != s->peer.ss_family) return 0;
  if (a->ss_family == AF_INET) {
    const struct sockaddr_in *x = (const void *)a, *y = (const void *)&s->peer;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  if (a->ss_family == AF_INET6) {
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)&s->peer;
    return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
  }
  return 0;
}

static void call_js(tsock *s, int n) {
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, arg;
  if (napi_get_reference_value(env, s->cb, &cb) == napi_ok && cb != NULL) {
    napi_get_global(env, &recv); // make_callback needs an object receiver
    napi_create_int32(env, n, &arg);
    napi_value result;
    // make_callback, not call_function: promise jobs and nextTicks queued by the handler run
    // afterwards, exactly as after a dgram 'message' event.
    if (napi_make_callback(env, actx, recv, cb, 1, &arg, &result) == napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err);
    }
  }
  napi_close_handle_scope(env, scope);
}

// Reads one batch into the shared buffer, firing the armed window on its ACK. Returns the count.
static int read_batch(tsock *s) {
  struct mmsghdr msgs[RX_BATCH];
  struct iovec iov[RX_BATCH];
  struct sockaddr_storage from[RX_BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < RX_BATCH; i++) {
    iov[i].iov_base = rx + i * RX_SLOT + RX_HEAD;
    iov[i].iov_len = RX_DATA;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &from[i];
    msgs[i].msg_hdr.msg_namelen = sizeof from[i];
  }
  int n = recvmmsg(s->fd, msgs, RX_BATCH, MSG_DONTWAIT, NULL);
  if (n <= 0) return 0;
  for (int i = 0; i < n; i++) {
    uint8_t *slot = rx + i * RX_SLOT;
    uint8_t *d = slot + RX_HEAD;
    uint32_t len = msgs[i].msg_len;
    uint8_t flags = 0;
    if (len > RX_DATA || (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)) {
      flags |= F_TRUNC;
      if (len > RX_DATA) len = RX_DATA;
    }
    memset(slot, 0, RX_HEAD);
    if (same_peer(s, &from[i])) {
      flags |= F_PEER;
      if (s->armed > 0 && len >= 4 && d[0] == 0 && d[1] == 4 && ((d[2] << 8) | d[3]) == s->arm_ack) {
        uint32_t count = s->armed;
        s->armed = 0;
        int r = send_data_blocks(s->fd, &s->peer, s->peerlen, s->arm_blocks, s->arm_ptrs, s->arm_lens, count);
        // Reported as fired only when the whole window left; otherwise the edge sends it.
        if (r == (int)count) {
          flags |= F_FIRED;
          s->fired++;
        }
      }
    }
    slot[0] = (uint8_t)(len & 0xff);
    slot[1] = (uint8_t)(len >> 8);
    slot[2] = flags;
    if (from[i].ss_family == AF_INET) {
      const struct sockaddr_in *a = (const void *)&from[i];
      slot[3] = 4;
      uint16_t port = ntohs(a->sin_port);
      slot[4] = (uint8_t)(port & 0xff);
      slot[5] = (uint8_t)(port >> 8);
      memcpy(slot + 8, &a->sin_addr, 4);
    } else if (from[i].ss_family == AF_INET6) {
      const struct sockaddr_in6 *a = (const void *)&from[i];
      slot[3] = 6;
      uint16_t port = ntohs(a->sin6_port);
      slot[4] = (uint8_t)(port & 0xff);
      slot[5] = (uint8_t)(port >> 8);
      memcpy(slot + 8, &a->sin6_addr, 16);
    }
  }
  return n;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_poll(uv_poll_t *h, int status, int events) {
  tsock *s = h->data;
  if (s->closing) return;
  if (status < 0) return; // a socket error (e.g. ICMP unreachable): the transfer's timer decides
  if ((events & UV_WRITABLE) && (s->events & UV_WRITABLE)) {
    s->events = UV_READABLE;
    uv_poll_start(&s->poll, s->events, on_poll);
    call_js(s, -1);
    if (s->closing) return;
  }
  if (!(events & UV_READABLE)) return;
  int n = read_batch(s);
  if (n == 0) return;
  call_js(s, n);
  if (spin_ns == 0 || open_sockets != 1) return;
  // The lone transfer of an otherwise idle server, with a client that answers fast: wait for its
  // next ACK here, briefly, instead of in epoll. A sleeping vCPU takes tens of microseconds to
  // wake (measured ~40 us of the ~50 us turnaround in a VM), which is most of a lock-step round
  // trip on a LAN. Bounded three ways: only while this is the only transfer socket, at most
  // spin_ns per ACK, at most SPIN_SLICE_NS before the loop gets control back (timers, other
  // sockets); and after a miss the client is deemed slow and not waited for again for a while.
  uint64_t start = now_ns(), last = start;
  while (!s->closing && s->spin_skip == 0 && open_sockets == 1) {
    uint64_t t = now_ns();
    if (t - last > spin_ns) {
      s->spin_skip = 16;
      break;
    }
    if (t - start > SPIN_SLICE_NS) break;
    n = read_batch(s);
    if (n == 0) continue;
    call_js(s, n);
    last = now_ns();
  }
  if (s->spin_skip > 0) s->spin_skip--;
}

static tsock *unwrap(napi_env env, napi_value v) {
  tsock *s = NULL;
  if (napi_get_value_external(env, v, (void **)&s) != napi_ok || s == NULL || s->closing) {
    napi_throw_error(env, NULL, "tftp socket: closed or not a socket");
    return NULL;
  }
  return s;
}

static napi_value int32(napi_env env, int32_t v) {
  napi_value r;
  napi_create_int32(env, v, &r);
  return r;
}

// tsockOpen(address, onPackets) -> { socket, port }: binds an ephemeral port on address and
// starts reading. onPackets(n) is called with n slots filled in the shared receive buffer, or -1
// when a socket that had a full send buffer can take more.
static napi_value tsock_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char addr[64] = {0};
  size_t len = 0;
  napi_valuetype t;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_string_utf8(env, argv[0], addr, sizeof addr, &len) != napi_ok ||
      napi_typeof(env, argv[1], &t) != napi_ok || t != napi_function) {
    napi_throw_type_error(env, NULL, "tsockOpen(address, onPackets)");
    return NULL;
  }
  int port = 0;
  int fd = open_bound_udp(env, "tsockOpen", addr, 0, &port);
  if (fd < 0) return NULL;
  struct uv_loop_s *loop = NULL;
  tsock *s = calloc(1, sizeof *s);
  if (s == NULL || napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, &s->poll, fd) != 0) {
    free(s);
    close(fd);
    napi_throw_error(env, NULL, "tsockOpen: cannot watch the socket");
    return NULL;
  }
  s->poll.data = s;
  s->fd = fd;
  s->env = env;
  s->events = UV_READABLE;
  napi_create_reference(env, argv[1], 1, &s->cb);
  if (actx == NULL) {
    napi_value resource, name;
    napi_create_object(env, &resource);
    napi_create_string_utf8(env, "pxepool:tftp-transfer", NAPI_AUTO_LENGTH, &name);
    napi_async_init(env, resource, name, &actx);
  }
  uv_poll_start(&s->poll, s->events, on_poll);
  open_sockets++;
  napi_value obj, ext;
  napi_create_object(env, &obj);
  napi_create_external(env, s, NULL, NULL, &ext);
  napi_set_named_property(env, obj, "socket", ext);
  napi_set_named_property(env, obj, "port", int32(env, port));
  return obj;
}

// tsockPeer(socket, address, port) -> 0, or -1 for an address the helper cannot parse
static napi_value tsock_peer(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  char addr[64] = {0};
  size_t len = 0;
  int32_t port = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3) return NULL;
  tsock *s = unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  if (napi_get_value_string_utf8(env, argv[1], addr, sizeof addr, &len) != napi_ok ||
      napi_get_value_int32(env, argv[2], &port) != napi_ok || port <= 0 || port > 65535) {
    napi_throw_type_error(env, NULL, "tsockPeer(socket, address, port)");
    return NULL;
  }
  if (parse_address(addr, port, &s->peer, &s->peerlen) < 0) {
    s->have_peer = 0;
    return int32(env, -1);
  }
  s->have_peer = 1;
  return int32(env, 0);
}

// tsockSendBlocks(socket, blocks, payloads, count) -> datagrams sent to the peer, or -errno
static napi_value tsock_send_blocks(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  uint32_t count = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4) return NULL;
  tsock *s = unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  if (napi_get_value_uint32(env, argv[3], &count) != napi_ok || !s->have_peer) {
    napi_throw_type_error(env, NULL, "tsockSendBlocks(socket, blocks, payloads, count) after tsockPeer");
    return NULL;
  }
  uint16_t blocks[MAX_BATCH];
  uint8_t *ptrs[MAX_BATCH];
  size_t lens[MAX_BATCH];
  if (read_window(env, "tsockSendBlocks", argv[1], argv[2], count, blocks, ptrs, lens) < 0) return NULL;
  return int32(env, count == 0 ? 0 : send_data_blocks(s->fd, &s->peer, s->peerlen, blocks, ptrs, lens, count));
}

// tsockArm(socket, ack, blocks, payloads, count): send this window as soon as ACK `ack` arrives
// from the peer; count 0 disarms. The payloads must stay alive (and unchanged) until the next
// tsockArm or tsockClose: the caller keeps them.
static napi_value tsock_arm(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  uint32_t ack = 0, count = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5) return NULL;
  tsock *s = unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  if (napi_get_value_uint32(env, argv[1], &ack) != napi_ok || ack > 0xffff ||
      napi_get_value_uint32(env, argv[4], &count) != napi_ok) {
    napi_throw_type_error(env, NULL, "tsockArm(socket, ack, blocks, payloads, count)");
    return NULL;
  }
  s->armed = 0;
  if (count == 0) return NULL;
  if (read_window(env, "tsockArm", argv[2], argv[3], count, s->arm_blocks, s->arm_ptrs, s->arm_lens) < 0) return NULL;
  s->arm_ack = (uint16_t)ack;
  s->armed = count;
  return NULL;
}

// tsockSendTo(socket, datagram, address, port) -> 1 sent, 0 would block, -errno
static napi_value tsock_send_to(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  char addr[64] = {0};
  size_t len = 0, dlen = 0;
  int32_t port = 0;
  void *data = NULL;
  napi_typedarray_type type;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4) return NULL;
  tsock *s = unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  if (napi_get_typedarray_info(env, argv[1], &type, &dlen, &data, NULL, NULL) != napi_ok || type != napi_uint8_array ||
      napi_get_value_string_utf8(env, argv[2], addr, sizeof addr, &len) != napi_ok ||
      napi_get_value_int32(env, argv[3], &port) != napi_ok || port <= 0 || port > 65535) {
    napi_throw_type_error(env, NULL, "tsockSendTo(socket, datagram, address, port)");
    return NULL;
  }
  struct sockaddr_storage ss;
  socklen_t sslen = 0;
  if (parse_address(addr, port, &ss, &sslen) < 0) return int32(env, -EAFNOSUPPORT);
  ssize_t r;
  do r = sendto(s->fd, data, dlen, MSG_DONTWAIT, (struct sockaddr *)&ss, sslen);
  while (r < 0 && errno == EINTR);
  if (r >= 0) return int32(env, 1);
  return int32(env, errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno);
}

// tsockWantWritable(socket): call onPackets(-1) once the send buffer has room again.
static napi_value tsock_want_writable(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return NULL;
  tsock *s = unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  if (!(s->events & UV_WRITABLE)) {
    s->events |= UV_WRITABLE;
    uv_poll_start(&s->poll, s->events, on_poll);
  }
  return NULL;
}

static void on_closed(uv_handle_t *h) {
  tsock *s = h->data;
  close(s->fd);
  free(s);
}

// tsockClose(socket) -> windows the fast path sent over the socket's life
static napi_value tsock_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  tsock *s = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_external(env, argv[0], (void **)&s) != napi_ok || s == NULL)
    return NULL;
  if (s->closing) return int32(env, 0);
  s->closing = 1;
  s->armed = 0;
  open_sockets--;
  uv_poll_stop(&s->poll);
  napi_delete_reference(env, s->cb);
  s->cb = NULL;
  uint32_t fired = s->fired;
  uv_close((uv_handle_t *)&s->poll, on_closed);
  return int32(env, (int32_t)fired);
}

// tsockSetSpin(microseconds): see on_poll; 0 turns waiting off
static napi_value tsock_set_spin(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  uint32_t us = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_uint32(env, argv[0], &us) != napi_ok || us > 10000) {
    napi_throw_range_error(env, NULL, "tsockSetSpin(0..10000 microseconds)");
    return NULL;
  }
  spin_ns = (uint64_t)us * 1000u;
  return NULL;
}

// growFdTable(n) -> the highest descriptor number the table now holds, or -errno.
// A process's descriptor table grows by doubling, and while other threads share it (Node's
// libuv pool, V8's workers) every growth waits for an RCU grace period: measured in a 500-request
// burst, socket() averaged 40 us in Node against 3 us in a single-threaded program, and a
// server's first storm was visibly slower than its second. Growing the table once at start-up,
// to what the transfer limit needs, takes that wait out of the storm. The table never shrinks.
static napi_value grow_fd_table(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  uint32_t n = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_uint32(env, argv[0], &n) != napi_ok || n < 1) {
    napi_throw_type_error(env, NULL, "growFdTable(n >= 1)");
    return NULL;
  }
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && n > rl.rlim_cur) n = (uint32_t)rl.rlim_cur;
  int target = (int)n - 1;
  int probe = fcntl(0, F_GETFD) >= 0 ? 0 : -1;
  int opened = -1;
  if (probe < 0) probe = opened = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (probe < 0) return int32(env, -errno);
  // Only a free slot may be borrowed: an fd in use up there belongs to someone.
  if (fcntl(target, F_GETFD) >= 0 || errno != EBADF) {
    if (opened >= 0) close(opened);
    return int32(env, target);
  }
  int r = dup3(probe, target, O_CLOEXEC);
  int err = errno;
  if (r >= 0) close(r);
  if (opened >= 0) close(opened);
  return int32(env, r >= 0 ? target : -err);
}

// tsockRxBuffer() -> the shared receive buffer (RX_BATCH slots of RX_SLOT bytes)
static napi_value tsock_rx_buffer(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value buf;
  if (env == rx_env && rx_ref != NULL && napi_get_reference_value(env, rx_ref, &buf) == napi_ok && buf != NULL) return buf;
  return NULL;
}

void register_tftp_socket(napi_env env, napi_value exports) {
  napi_value buf;
  if (rx == NULL) {
    if (napi_create_buffer(env, RX_BATCH * RX_SLOT, (void **)&rx, &buf) != napi_ok) return;
    napi_create_reference(env, buf, 1, &rx_ref);
    rx_env = env;
  }
  static const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
      {"tsockOpen", tsock_open},         {"tsockPeer", tsock_peer},
      {"tsockSendBlocks", tsock_send_blocks}, {"tsockArm", tsock_arm},
      {"tsockSendTo", tsock_send_to},    {"tsockWantWritable", tsock_want_writable},
      {"tsockClose", tsock_close},       {"tsockRxBuffer", tsock_rx_buffer},
      {"tsockSetSpin", tsock_set_spin},  {"growFdTable", grow_fd_table},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value fn;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &fn);
    napi_set_named_property(env, exports, fns[i].name, fn);
  }
  napi_value v;
  napi_create_uint32(env, RX_SLOT, &v);
  napi_set_named_property(env, exports, "tsockRxSlot", v);
}
