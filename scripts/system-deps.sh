#!/usr/bin/env bash
# What the test suite needs from the operating system (Debian): the MariaDB client headers
# for mysqlclient, Node.js for the npm `jose` verifier, Chromium for the admin pages, promtool
# for /metrics, docker-compose to validate docker-compose.yml (no daemon needed). Installs
# what is missing when it can (root with apt); otherwise says what to do.
set -euo pipefail
need=()
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
dpkg -s libmariadb-dev >/dev/null 2>&1 || need+=(libmariadb-dev)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
else
  echo "missing system packages: ${need[*]} (sudo apt-get install ${need[*]})" >&2
  exit 1
fi
