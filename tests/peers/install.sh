#!/usr/bin/env bash
# Installs the real protocol peers the integration tests talk to (Debian).
#
# cups (its lpd backend and cups-lpd), cups-client (lp, lpstat, cancel) and lpr
# (BSD lpd) conflict with lprng in Debian, so those are unpacked beside the
# system into $PEERS_ROOT with dpkg -x; the tests find them there (see
# tests/peers/__init__.py). Everything else is a normal install.
set -euo pipefail
PEERS_ROOT=${PEERS_ROOT:-/opt/lpd-ipp-gateway-peers}
export DEBIAN_FRONTEND=noninteractive
apt-get update
# Debian 13 renamed some libraries (the 64-bit time_t transition): take the first
# name of each list that this release knows.
pick() {
    for name in "$@"; do
        if apt-cache show "$name" >/dev/null 2>&1; then echo "$name"; return; fi
    done
    echo "$1"
}
libcups=$(pick libcups2t64 libcups2)
apt-get install -y --no-install-recommends \
    lprng cups-daemon cups-common cups-ipp-utils "$libcups" rlpr \
    dbus avahi-daemon avahi-utils ca-certificates python3-venv python3-pip systemd \
    chromium fonts-dejavu-core \
    ghostscript poppler-utils qpdf cups-filters \
    postgresql
# The tests start avahi-daemon themselves, on loopback only (tests/peers/eve.py);
# stop any instance the package scripts started with the default configuration.
avahi-daemon --kill 2>/dev/null || true
mkdir -p "$PEERS_ROOT"
tmp=$(mktemp -d)
(
    cd "$tmp"
    apt-get download cups cups-client lpr
    for pkg in cups cups-client lpr; do
        rm -rf "${PEERS_ROOT:?}/$pkg"
        mkdir -p "$PEERS_ROOT/$pkg"
        dpkg -x "$pkg"_*.deb "$PEERS_ROOT/$pkg"
    done
)
rm -rf "$tmp"
echo "peers installed; cups, cups-client and lpr unpacked under $PEERS_ROOT"
