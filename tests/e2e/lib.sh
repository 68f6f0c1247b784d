# Shared by the end-to-end scripts (sourced): TAP output, cleanup, ports, a private Podman.
#
# Each check prints "ok N - name" or "not ok N - name" (TAP); run.sh prints the plan at the
# end. Everything a test starts is registered with at_exit and undone, last first, when the
# suite exits, whatever way it exits.

E2E_N=${E2E_N:-0}
E2E_FAILED=${E2E_FAILED:-0}
E2E_CLEANUPS=()

ok() { # name
	E2E_N=$((E2E_N + 1))
	echo "ok $E2E_N - $1"
}
not_ok() { # name [detail...]
	E2E_N=$((E2E_N + 1))
	E2E_FAILED=$((E2E_FAILED + 1))
	echo "not ok $E2E_N - $1"
	shift
	local line
	for line in "$@"; do echo "$line" | sed 's/^/# /'; done
}
skip() { # name reason
	E2E_N=$((E2E_N + 1))
	echo "ok $E2E_N - $1 # SKIP $2"
}
note() { echo "# $*"; }
# check NAME CMD...: ok when CMD succeeds; its output goes into the failure note.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "$out"; fi
}

at_exit() { E2E_CLEANUPS+=("$*"); }
run_cleanups() {
	local _cleanup_idx
	for ((_cleanup_idx = ${#E2E_CLEANUPS[@]} - 1; _cleanup_idx >= 0; _cleanup_idx--)); do
		eval "${E2E_CLEANUPS[$_cleanup_idx]:-}" >/dev/null 2>&1 || true
	done
	E2E_CLEANUPS=()
}

# A free TCP port on 127.0.0.1 (the machine runs other tests: never assume a fixed port).
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# A port free for both TCP and UDP on 127.0.0.1.
free_port_tcp_udp() {
	python3 - <<'PY'
import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
PY
}

# Wait up to $2 seconds (default 10) for a command to succeed.
wait_for() {
	local secs=${2:-10} i
	for ((i = 0; i < secs * 10; i++)); do
		eval "$1" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# What each part runs, filled in by the part's file: E2E_NEEDS[part]="WHAT:PACKAGE ...", WHAT a
# command in PATH or an absolute path, or a PACKAGE alone (no command in PATH: dpkg is asked).
# run.sh installs what every wanted part needs before the first part runs; `dpkg -S FILE` says
# which package ships a command. Debian 12's podman, installed --no-install-recommends, brings
# neither netavark (containernetworking-plugins is its first alternative) nor catatonit.
declare -A E2E_NEEDS=()

# apt-get install what is missing: need WHAT:PACKAGE|PACKAGE...; apt's complaint as notes and
# status 1 when that fails. Another apt on the machine holds the lock for a while: wait.
need() {
	local want=() p out
	for p in "$@"; do
		case $p in
		/*:*) [ -x "${p%%:*}" ] || want+=("${p#*:}") ;;
		*:*) command -v "${p%%:*}" >/dev/null 2>&1 || want+=("${p#*:}") ;;
		*) dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || want+=("$p") ;;
		esac
	done
	[ ${#want[@]} -eq 0 ] && return 0
	mapfile -t want < <(printf '%s\n' "${want[@]}" | sort -u)
	note "installing ${want[*]}"
	local apt=(apt-get -o DPkg::Lock::Timeout=600 -y -qq --no-install-recommends)
	out=$(DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${want[@]}" 2>&1) ||
		out=$({ apt-get -o DPkg::Lock::Timeout=600 update -qq &&
			DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${want[@]}"; } 2>&1) || {
		note "apt-get install ${want[*]} failed:"
		echo "$out" | tail -5 | sed 's/^/# /'
		return 1
	}
}

# A private Podman store under $E2E_TMP, with runc and rlimits runc accepts (MACHINE-NOTES:
# crun fails on this host's hybrid cgroups, runc refuses Podman's default rlimits). Networks
# (the proxy tests) are netavark's, defined in the private store too, not in /etc/containers.
setup_podman() {
	mkdir -p "$E2E_TMP/podman"
	cat >"$E2E_TMP/podman/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
[network]
network_backend = "netavark"
network_config_dir = "$E2E_TMP/podman/networks"
CONF
	mkdir -p "$E2E_TMP/podman/networks"
	export CONTAINERS_CONF="$E2E_TMP/podman/containers.conf"
	PODMAN="podman --root $E2E_TMP/podman/root --runroot $E2E_TMP/podman/run"
	# `podman run` does not take default_ulimits from that file here: pass them too.
	RUN_OPTS="--ulimit nofile=1024:1024 --ulimit nproc=1024:1024"
	at_exit "$PODMAN rm -af -t 0; $PODMAN pod rm -af -t 0; $PODMAN system reset -f; rm -rf $E2E_TMP/podman"
}
