#!/bin/sh
# The browser tests (tests/console) drive Debian's Chromium at /usr/bin/chromium through
# Playwright. Install the Debian package when it is missing; never download a browser build.
set -eu
CHROMIUM="${KNM_TEST_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "make test needs Chromium at $CHROMIUM: run 'apt-get install -y chromium' as root" >&2
    exit 2
fi
echo "installing Debian's chromium package for the browser tests"
export DEBIAN_FRONTEND=noninteractive
# a stale package list can name versions the mirror no longer has: refresh it then retry
apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null &&
    apt-get install -y -q chromium >/dev/null; }
test -x "$CHROMIUM"
