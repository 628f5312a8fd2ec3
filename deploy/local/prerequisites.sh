#!/usr/bin/env bash
# Installs what the native stack needs and a fresh machine may lack: Java 17+
# and Maven (for Kafka's jars), kcat (to look at topics), Chromium (browser tests). PostgreSQL is
# installed by `storecredit stack up` itself. Idempotent and non-interactive.
set -euo pipefail

need=()
java_ok() {
  command -v java >/dev/null 2>&1 || return 1
  local major
  major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
  [ -n "$major" ] && [ "$major" -ge 17 ]
}
java_ok || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
command -v kcat >/dev/null 2>&1 || need+=(kcat)
# The browser tests drive Debian's Chromium with Playwright (tests/browser.py).
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "prerequisites: need root or sudo to install ${need[*]}" >&2; exit 1; }
  sudo_cmd=(sudo -n)
fi
echo "prerequisites: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
