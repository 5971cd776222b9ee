#!/bin/sh
# tests/client/run.sh - end-to-end tests of the wsrelay command-line client
# (test_wsrelay.py) against test servers the tests start themselves.
#
# Environment: WSRELAY, the client binary to test (default:
# ../../build/wsrelay from this script); srcdir is accepted but not needed
# (the tests are found next to this script).  Needs Debian's
# /usr/bin/python3 and its python3-websockets; a missing one is an error,
# never a skip.
# Exit status: unittest's (0 passed, 1 failed), or 99 (cannot run).
set -u

here=$(cd "$(dirname "$0")" && pwd) || exit 99
python=/usr/bin/python3

WSRELAY=${WSRELAY:-$here/../../build/wsrelay}
case $WSRELAY in
/*) ;;
*) WSRELAY=$(pwd)/$WSRELAY ;;
esac
export WSRELAY

if [ ! -x "$python" ]; then
	echo "run.sh: $python is missing (apt-get install python3)" >&2
	exit 99
fi
if [ ! -x "$WSRELAY" ]; then
	echo "run.sh: no wsrelay binary at $WSRELAY (set WSRELAY)" >&2
	exit 99
fi
# Debian's interpreter with Debian's modules only: no pyenv, no user site.
unset PYTHONPATH PYTHONHOME PYTHONSTARTUP
PYTHONDONTWRITEBYTECODE=1
PYTHONNOUSERSITE=1
export PYTHONDONTWRITEBYTECODE PYTHONNOUSERSITE
if ! "$python" -c 'import websockets' 2>/dev/null; then
	echo "run.sh: $python cannot import websockets: install the Debian" \
	    "package python3-websockets" >&2
	exit 99
fi

cd "$here" || exit 99
"$python" -B -m unittest -v test_wsrelay
exit $?
