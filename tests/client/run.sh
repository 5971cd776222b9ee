#!/bin/sh
# tests/client/run.sh - wsrelay, the client, against python3-websockets
# servers written by the tests (test_wsrelay.py), run by "make check".
#
# Environment: WSRELAY, the binary to test (default: ../../build/wsrelay
# from this script).  Needs Debian's /usr/bin/python3 and its
# python3-websockets (see ../pyenv.sh); a missing one is an error, never a
# skip.  Exit status: unittest's (0 passed, 1 failed), or 99 (cannot run).
set -u
here=$(cd "$(dirname "$0")" && pwd) || exit 99
. "$here/../pyenv.sh"
need_binary WSRELAY wsrelay
cd "$here" || exit 99
"$python" -B -m unittest -v test_wsrelay
