#!/usr/bin/env bash
# Builds the optional native helper from source with node-gyp, against the headers of the Node
# that runs pxepool: native/udp_device.c (SO_BINDTODEVICE for multi-homed hosts) and
# native/udp_send.c (a TFTP window in one sendmmsg). Best effort: without it pxepool still runs;
# `server.interface` then only selects addresses, and TFTP sends each datagram through Node.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=native/build/Release/udp_device.node
fresh=1
for src in native/*.c native/*.h native/binding.gyp; do [ "$out" -nt "$src" ] || fresh=0; done
[ -f "$out" ] && [ "$fresh" = 1 ] && exit 0
node_bin="$(command -v node)"
nodedir="$(cd "$(dirname "$node_bin")/.." && pwd)"
gyp="$(dirname "$(command -v npm)")/../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"
[ -f "$gyp" ] || gyp="$(npm root -g 2>/dev/null)/npm/node_modules/node-gyp/bin/node-gyp.js"
if [ ! -f "$gyp" ] || [ ! -d "$nodedir/include/node" ]; then
  echo "pxepool: native helper not built (node-gyp or Node headers missing); multi-homed interface binding unavailable" >&2
  exit 0
fi
if ! (cd native && node "$gyp" rebuild --nodedir="$nodedir" >/tmp/pxepool-native-build.log 2>&1); then
  echo "pxepool: native helper build failed (see /tmp/pxepool-native-build.log); multi-homed interface binding unavailable" >&2
fi
exit 0
