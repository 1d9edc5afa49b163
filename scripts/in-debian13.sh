#!/usr/bin/env bash
# Runs a command in a copy of the checkout inside the Debian 13 root of
# scripts/debian13-root.sh (libtorch 2.6, Python torch 2.6; docs/build.md). The checkout's
# files (tracked, and untracked ones git does not ignore) are copied to /src/ddkit in the
# root, never mounted: only changed files, so the copy's build/ folder (kept between runs,
# $ROOT/src/ddkit/build on the host) rebuilds only what changed.
#   bash scripts/in-debian13.sh bash scripts/build.sh
#   bash scripts/in-debian13.sh bash bench/distill_speed.sh --no-python-default
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: scripts/in-debian13.sh COMMAND [ARG...]" >&2; exit 2; }
ROOT=$(bash scripts/debian13-root.sh)
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
SRC="$ROOT/src/ddkit"
STAGE="$ROOT/src/.ddkit-incoming"
$SUDO rm -rf "$STAGE"
$SUDO mkdir -p "$SRC" "$STAGE"
git ls-files -z --cached --others --exclude-standard |
  tar --null --files-from=- --ignore-failed-read -cf - 2> /dev/null | $SUDO tar -xf - -C "$STAGE"
# Only files whose contents changed are copied, and they get a fresh mtime, so make
# rebuilds exactly those. (Keeping the checkout's mtimes would leave a file edited before
# the copy's last build older than its object file, and that object stale.)
(cd "$STAGE" && find . -type f -print0) | while IFS= read -r -d '' f; do
  if ! cmp -s "$STAGE/$f" "$SRC/$f"; then
    $SUDO mkdir -p "$(dirname "$SRC/$f")"
    $SUDO cp "$STAGE/$f" "$SRC/$f"
  fi
done
# Files gone from the checkout go from the copy too; its build/ stays.
(cd "$SRC" && find . -path ./build -prune -o -type f -print0) | while IFS= read -r -d '' f; do
  [ -e "$STAGE/$f" ] || $SUDO rm -f "$SRC/$f"
done
$SUDO rm -rf "$STAGE"
# A private mount namespace: the root's /proc and /dev exist only while this runs.
# shellcheck disable=SC2016
$SUDO unshare --mount --fork bash -c '
  set -euo pipefail
  ROOT=$1; shift
  mount -t proc proc "$ROOT/proc"
  mount --rbind /dev "$ROOT/dev"
  exec chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    bash -c "cd /src/ddkit && exec \"\$@\"" in-root "$@"
' in-debian13 "$ROOT" "$@"
