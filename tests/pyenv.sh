# tests/pyenv.sh - sourced by the run.sh of the Python suites (daemon,
# client, browser).  Before sourcing, set "here" (the suite's folder) and,
# optionally, "cannot": the exit status when something needed is missing
# (default 99, automake's hard error; never a skip).
#
# need_binary VAR NAME: VAR (from the environment, or ../../build/NAME from
# the suite) made absolute, exported, and checked to be executable.
# Then "$python" is Debian's /usr/bin/python3 with Debian's modules only
# (no pyenv, no user site), checked to import websockets.

cannot=${cannot:-99}
python=/usr/bin/python3

missing() {
	echo "run.sh: $*" >&2
	exit "$cannot"
}

need_binary() {
	eval "bin=\${$1:-\$here/../../build/$2}"
	case $bin in
	/*) ;;
	*) bin=$(pwd)/$bin ;;
	esac
	[ -x "$bin" ] || missing "no $2 binary at $bin (set $1)"
	eval "$1=\$bin"
	export "$1"
}

[ -x "$python" ] || missing "$python is missing (apt-get install python3)"
unset PYTHONPATH PYTHONHOME PYTHONSTARTUP
PYTHONDONTWRITEBYTECODE=1
PYTHONNOUSERSITE=1
export PYTHONDONTWRITEBYTECODE PYTHONNOUSERSITE
"$python" -c 'import websockets' 2>/dev/null ||
	missing "$python cannot import websockets: install the Debian package" \
	    "python3-websockets"
