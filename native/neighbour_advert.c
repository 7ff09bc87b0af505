// Unsolicited IPv6 neighbour advertisements (RFC 4861 §7.2.6) for a service address a pool
// peer has just taken over: hosts that cached the dead holder's MAC for it move to ours at once
// instead of after their neighbour-unreachability detection (tens of seconds). The kernel sends
// one only after its own DAD and only with the ndisc_notify sysctl set, and no tool in Debian's
// base sends one, so we do: a raw ICMPv6 socket (CAP_NET_RAW), source the address itself,
// destination all-nodes, hop limit 255, override flag, our MAC as target link-layer address.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "udp_send.h"

static napi_value fail(napi_env env, const char *what, int err, int fd) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  if (fd >= 0) close(fd);
  napi_throw_error(env, NULL, msg);
  return NULL;
}

// sendNeighbourAdvert(device: string, address: string) -> undefined (throws with errno text)
static napi_value send_neighbour_advert(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char dev[IF_NAMESIZE + 1] = {0};
  char addr[INET6_ADDRSTRLEN + 1] = {0};
  size_t n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_string_utf8(env, argv[0], dev, sizeof dev, &n) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], addr, sizeof addr, &n) != napi_ok) {
    napi_throw_type_error(env, NULL, "sendNeighbourAdvert(device, address)");
    return NULL;
  }
  struct in6_addr target;
  if (inet_pton(AF_INET6, addr, &target) != 1) return fail(env, "not an IPv6 address", EINVAL, -1);
  unsigned ifindex = if_nametoindex(dev);
  if (ifindex == 0) return fail(env, "no such device", errno, -1);
  int fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
  if (fd < 0) return fail(env, "raw ICMPv6 socket (needs CAP_NET_RAW)", errno, -1);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, dev, strnlen(dev, IFNAMSIZ - 1));
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) return fail(env, "SIOCGIFHWADDR", errno, fd);
  int hops = 255;  // RFC 4861: receivers drop neighbour discovery with any other hop limit
  if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops) < 0) return fail(env, "IPV6_MULTICAST_HOPS", errno, fd);
  if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof ifindex) < 0) return fail(env, "IPV6_MULTICAST_IF", errno, fd);
  struct sockaddr_in6 src;
  memset(&src, 0, sizeof src);
  src.sin6_family = AF_INET6;
  src.sin6_addr = target;
  if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) return fail(env, "bind to the service address", errno, fd);
  struct {
    struct nd_neighbor_advert na;
    uint8_t opt[8];
  } __attribute__((packed)) pkt;
  memset(&pkt, 0, sizeof pkt);
  pkt.na.nd_na_type = ND_NEIGHBOR_ADVERT;
  pkt.na.nd_na_flags_reserved = ND_NA_FLAG_OVERRIDE;  // not solicited: replace what they cached
  pkt.na.nd_na_target = target;
  pkt.opt[0] = ND_OPT_TARGET_LINKADDR;
  pkt.opt[1] = 1;  // length in units of 8 bytes
  memcpy(pkt.opt + 2, ifr.ifr_hwaddr.sa_data, 6);
  struct sockaddr_in6 dst;
  memset(&dst, 0, sizeof dst);
  dst.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "ff02::1", &dst.sin6_addr);
  dst.sin6_scope_id = ifindex;
  // The kernel computes the ICMPv6 checksum on raw ICMPv6 sockets (RFC 3542 §3.1).
  if (sendto(fd, &pkt, sizeof pkt, 0, (struct sockaddr *)&dst, sizeof dst) < 0) return fail(env, "sendto ff02::1", errno, fd);
  close(fd);
  return NULL;
}

void register_neighbour_advert(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "sendNeighbourAdvert", NAPI_AUTO_LENGTH, send_neighbour_advert, NULL, &fn);
  napi_set_named_property(env, exports, "sendNeighbourAdvert", fn);
}
