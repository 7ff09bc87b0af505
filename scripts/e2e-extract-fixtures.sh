#!/bin/sh
# Extract single-packet fixtures (UDP payload as hex) from lab captures.
# Usage: scripts/e2e-extract-fixtures.sh <pcap> <display-filter> <index (1-based)> <out.hex>
# Example: scripts/e2e-extract-fixtures.sh lan.pcap 'dhcp.option.dhcp==1' 1 test/fixtures/firmware/ovmf-discover.hex
set -eu
pcap=$1 filter=$2 idx=$3 out=$4
hex=$(tshark -r "$pcap" -Y "$filter" -T fields -e udp.payload 2>/dev/null | sed -n "${idx}p" | tr -d ':\n')
[ -n "$hex" ] || { echo "no packet #$idx matching '$filter' in $pcap" >&2; exit 1; }
printf '%s\n' "$hex" | fold -w 64 > "$out"
echo "$out: $(( ${#hex} / 2 )) bytes"
