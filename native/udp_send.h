#pragma once
#include <node_api.h>
void register_udp_send(napi_env env, napi_value exports);
