#!/usr/bin/env bash
# Debian 12 packages ddkit builds, tests and runs with (scripts/packages.txt). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2046
$SUDO apt-get install -y -qq $(grep -v '^#' scripts/packages.txt) > /dev/null
