#!/bin/sh
# tests/daemon/run.sh - the daemon's end-to-end tests (test_daemon.py),
# run by "make check".
#
# Environment: WSRELAYD, the binary to test (default: ../../build/wsrelayd
# from this script).  Needs Debian's /usr/bin/python3 and its
# python3-websockets (see ../pyenv.sh); a missing one is an error, never a
# skip.  Exit status: unittest's (0 passed, 1 failed), or 99 (cannot run).
set -u
here=$(cd "$(dirname "$0")" && pwd) || exit 99
. "$here/../pyenv.sh"
need_binary WSRELAYD wsrelayd
cd "$here" || exit 99
"$python" -B -m unittest -v test_daemon test_tls
