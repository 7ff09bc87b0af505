#pragma once
#include <node_api.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/socket.h>

#define MAX_BATCH 64

void register_udp_send(napi_env env, napi_value exports);
void register_tftp_socket(napi_env env, napi_value exports);
void register_neighbour_advert(napi_env env, napi_value exports);
int open_bound_udp(napi_env env, const char *what, const char *addr, int port, int *bound_port);
int read_window(napi_env env, const char *what, napi_value vblocks, napi_value vpayloads, uint32_t count,
                uint16_t *blocks, uint8_t **ptrs, size_t *lens);
int parse_address(const char *addr, int port, struct sockaddr_storage *ss, socklen_t *len);
int send_data_blocks(int fd, const struct sockaddr_storage *ss, socklen_t sslen, const uint16_t *blocks,
                     uint8_t *const *ptrs, const size_t *lens, uint32_t count);
