#!/bin/sh
# tests/browser/run.sh - wsrelayd against WebSocket clients written
# elsewhere: headless Chromium and Node's "ws" package (test_browser.py).
#
# Environment: WSRELAYD, the binary to test (default: ../../build/wsrelayd
# from this script); srcdir is accepted but not needed (the tests are found
# next to this script); CHROMIUM (default /usr/bin/chromium).
#
# Needs, and never skips without: Debian's /usr/bin/python3 with
# python3-websockets, the Debian package chromium, node (20) with npm, and
# the npm registry, from which ws@8 is installed into a temporary folder
# (removed on exit), never into the repository.
# Exit status: unittest's (0 passed, 1 failed), or 1 when something needed
# is missing, with the reason on stderr.
set -u

here=$(cd "$(dirname "$0")" && pwd) || exit 1
chromium=${CHROMIUM:-/usr/bin/chromium}

fail() {
	echo "run.sh: FAIL: $*" >&2
	exit 1
}

cannot=1
. "$here/../pyenv.sh"
need_binary WSRELAYD wsrelayd
CHROMIUM=$chromium
export CHROMIUM
[ -x "$chromium" ] || fail "no Chromium at $chromium (apt-get install chromium)"
command -v node >/dev/null 2>&1 || fail "node is missing (Node.js 20 with npm)"
command -v npm >/dev/null 2>&1 || fail "npm is missing (Node.js 20 with npm)"

# Setup: ws@8 from the npm registry into a temporary folder.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsrelayd-npm.XXXXXX") ||
	fail "cannot make a temporary folder"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
echo "run.sh: npm install --prefix $tmp ws@8" >&2
if ! timeout 180 npm install --prefix "$tmp" ws@8 --no-audit --no-fund \
    --no-update-notifier >"$tmp/npm.log" 2>&1; then
	cat "$tmp/npm.log" >&2
	fail "npm install ws@8 failed (cannot reach the npm registry?)"
fi
[ -f "$tmp/node_modules/ws/package.json" ] ||
	fail "npm install ws@8 left no $tmp/node_modules/ws"
WSRELAYD_TEST_WS_DIR=$tmp/node_modules/ws
export WSRELAYD_TEST_WS_DIR

cd "$here" || exit 1
"$python" -B -m unittest -v test_browser
exit $?
