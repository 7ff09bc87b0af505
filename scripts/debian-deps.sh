#!/usr/bin/env bash
# Installs the Debian packages the integration and end-to-end tests use as real peers:
# site DHCP servers (Kea, ISC dhcpd), a relay (isc-dhcp-relay), TFTP clients and servers,
# dnsmasq, QEMU with iPXE/OVMF firmware (and qemu-system-aarch64 with AAVMF), pxelinux, busybox, capture tools, and systemd-analyze
# (checks the example units), arping, ndisc6 and nft (pool service addresses), Chromium (the dashboard's
# browser tests), PostgreSQL (the shared store's tests), and the C toolchain for the native helper.
# Services are never started by the install (policy-rc.d), tests start their own copies.
set -euo pipefail
pkgs=(iproute2 iputils-ping iputils-arping ndisc6 nftables procps psmisc tcpdump tshark curl
      kea-dhcp4-server isc-dhcp-server isc-dhcp-relay dnsmasq-base radvd
      tftp-hpa atftp tftpd-hpa
      qemu-system-x86 ipxe-qemu ipxe ovmf pxelinux syslinux-common busybox-static cpio xz-utils systemd-boot-efi binutils
      qemu-system-arm qemu-efi-aarch64  # ARM64 UEFI (AAVMF); its arm64 kernel, busybox and GRUB are fetched by test/e2e/arm64-artifacts.ts
      xorriso mtools isolinux grub-efi-amd64-bin grub-common shim-signed grub-efi-amd64-signed  # pxepool media (docs/media.md)
      chromium  # the dashboard's browser tests, driven by puppeteer-core
      postgresql  # the store's tests start their own server (test/lib/postgres.ts)
      systemd
      build-essential python3)  # node-gyp builds the native helper (native/*.c)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}" >&2
if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; fi
# tshark asks whether non-root users may capture; answer for it.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
