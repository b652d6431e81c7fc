# Shared shell for the bench/ scripts: source it after `set -euo pipefail`.
#
#   . "$(dirname "$0")/lib.sh"     # cd to the repository, make $WORK, trap cleanup
#   need nginx wrk                  # exit with an install hint if a tool is missing
#   PORT=$(free_port); ... & track $!; wait_port "$PORT"
#   before=$(cpu_us "$pid"); ...; after=$(cpu_us "$pid")
#   us_per "$((after - before))" "$requests"   # CPU µs per request
#   med "1 3 2"                     # 2
#
# Every process a script starts goes through `track PID` so the EXIT trap
# stops it; $WORK (a temporary directory) is removed at exit.

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
WORK=$(mktemp -d)
PIDS=()

bench_cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap bench_cleanup EXIT

track() { PIDS+=("$1"); }

# need TOOL... — the Debian packages that provide them are in the hint.
need() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null || {
			echo "bench: $t missing (apt-get install nginx-light libnginx-mod-stream haproxy wrk nghttp2-client openssl)"
			exit 1
		}
	done
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

wait_port() {
	local _
	for _ in $(seq 200); do
		(exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "bench: port $1 never opened"
	exit 1
}

# cpu_us PID — CPU time the process has used, in microseconds: the sum of
# its threads' on-CPU time (/proc/PID/task/*/schedstat, nanoseconds). It is
# the quantity /proc/PID/stat reports as utime + stime, without the 10 ms
# tick granularity that makes short runs coarse. A thread that exits takes
# its time along, so measure processes whose threads live (Go's do; nginx
# and haproxy here run one thread).
cpu_us() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ns += $1} END {printf "%d\n", ns / 1000}'; }

# us_per CPU_US N — CPU microseconds per unit (request, connection).
us_per() { awk -v t="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.2f", t / n; else print "-" }'; }

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# med "a b c" — median of a space-separated list; empty for an empty list.
med() { tr ' ' '\n' <<<"$1" | grep . | median; }

# ratio A B — A/B with two decimals, "-" when either is missing.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "" && b + 0 != 0) printf "%.2f", a / b; else print "-" }'; }

# load_line — what else the machine was doing, for the record.
load_line() { echo "load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs, $(date -u '+%Y-%m-%d %H:%M UTC')"; }

# backend_nginx PORT [H2PORT] — the shared backend: nginx, one process,
# a fixed 13-byte body with keep-alive (and h2c prior knowledge on H2PORT).
# Sets BACKEND_PID.
backend_nginx() {
	local h2=""
	[ -n "${2:-}" ] && h2="server { listen 127.0.0.1:$2 http2; location / { return 200 \"hello, world\\n\"; } }"
	mkdir -p "$WORK/backend"
	cat >"$WORK/backend/nginx.conf" <<CONF
worker_processes 1; daemon off; master_process off; pid $WORK/backend/nginx.pid; error_log stderr error;
events { worker_connections 8192; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$1 reuseport; location / { return 200 "hello, world\n"; } }
  $h2 }
CONF
	nginx -c "$WORK/backend/nginx.conf" -p "$WORK/backend" &
	BACKEND_PID=$!
	track $BACKEND_PID
}
