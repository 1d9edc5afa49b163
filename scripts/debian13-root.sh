#!/usr/bin/env bash
# A Debian 13 (trixie) root with libtorch 2.6, Python torch 2.6 and every package of
# scripts/packages.txt, for building and testing ddkit against the libtorch 2.x line
# (docs/build.md). Made once with mmdebstrap and kept; made again when the package list
# changes. Prints the root's path.
#   DDKIT_DEBIAN13_ROOT  where the root lives (default /var/cache/ddkit/debian13)
#   DDKIT_DEBIAN_MIRROR  the Debian mirror (default http://deb.debian.org/debian)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${DDKIT_DEBIAN13_ROOT:-/var/cache/ddkit/debian13}
MIRROR=${DDKIT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
# python3-torch: the Python peer of the speed benches and of the interop tests.
packages=$( (grep -v '^#' scripts/packages.txt; echo python3-torch) | sort -u | paste -sd, -)
if [ -f "$ROOT/.ddkit-packages" ] && [ "$(cat "$ROOT/.ddkit-packages")" = "$packages" ]; then
  echo "$ROOT"
  exit 0
fi
if ! command -v mmdebstrap > /dev/null; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mmdebstrap > /dev/null
fi
# Made beside the final path and moved there, so an interrupted run leaves no half root.
# Never remove a folder with something mounted in it: rm would follow a bind mount into
# the mounted tree (scripts/in-debian13.sh mounts only in a private namespace).
for dir in "$ROOT" "$ROOT.new"; do
  if awk -v d="$dir/" 'index($2 "/", d) == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
    echo "debian13-root.sh: error: $dir: something is mounted inside it; unmount it first" >&2
    exit 2
  fi
done
$SUDO rm -rf "$ROOT.new"
$SUDO mkdir -p "$(dirname "$ROOT")"
$SUDO mmdebstrap --quiet --mode=root --variant=apt --include="$packages" trixie "$ROOT.new" "$MIRROR" >&2
echo "$packages" | $SUDO tee "$ROOT.new/.ddkit-packages" > /dev/null
$SUDO rm -rf "$ROOT"
$SUDO mv "$ROOT.new" "$ROOT"
echo "$ROOT"
