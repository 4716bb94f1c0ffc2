#!/usr/bin/env bash
# Installs everything Herr Ober needs on a Debian 12 machine (as root): the Debian packages for
# building images and for the tests' real daemons, and the npm dependencies. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

# The daemons whose configs we render are checked by the real programs (haproxy -c, keepalived
# --config-test, exabgp --test, bird -p, systemd-analyze verify, nft -c, sysctl --dry-run, sshd -t);
# the image pipeline needs mmdebstrap, the disk tools and QEMU.
APT_PACKAGES=(
  haproxy keepalived exabgp bird2 frr nftables openssh-server openssh-client procps iproute2 curl openssl
  systemd genisoimage mmdebstrap qemu-utils qemu-system-x86 ovmf seabios mtools dosfstools fdisk e2fsprogs
  uuid-runtime xz-utils zstd
  packer             # `packer validate` of the exported Packer template (1.6.6: proxmox-clone builder)
  # test:s3 and bench:s3: a real Ceph (mon, OSD, RGW) behind the lab, real S3 clients in front
  ceph-mon ceph-osd radosgw ceph-common awscli s3cmd rclone wrk
  chromium           # the lab's dashboard test: headless Chromium driven by playwright-core
  tmux               # the ober config wizard's test: a real terminal (send-keys, capture-pane)
  ssh-audit lynis    # the image suite's hardening audit: ssh-audit against the booted node's sshd, Lynis copied into it
  nghttp2-client     # bench:tls: h2load opens the full and resumed TLS handshakes
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Packages may start their daemons on install; the tests run their own copies in namespaces.
for s in haproxy keepalived bird frr exabgp ceph.target radosgw; do systemctl stop "$s" >/dev/null 2>&1 || true; done

if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
