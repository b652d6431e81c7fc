#!/usr/bin/env bash
# Workers vs CPUs: the same sluice with `concurrency` = the CPUs it may use
# (the default, GOMAXPROCS) and with 4x that, proxying to an nginx backend.
# Prints req/s, p50/p99 and the proxy's CPU per request (process CPU time
# from /proc ÷ requests served), medians of interleaved rounds.
#
#   bash bench/concurrency.sh
#   DURATION=20s ROUNDS=5 bash bench/concurrency.sh
#
# Needs: nginx, wrk. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNS=${CONNS:-100}
ROUNDS=${ROUNDS:-3}
CPUS=$(nproc)
for tool in nginx wrk; do
	command -v $tool >/dev/null || { echo "bench: $tool missing (apt-get install nginx-light wrk)"; exit 1; }
done
[ -x build/sluice ] || make -s sluice

WORK=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened"; exit 1; }

BACKEND=$(free_port)
mkdir -p "$WORK/backend"
cat > "$WORK/backend/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $WORK/backend/nginx.pid; error_log stderr error;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$BACKEND reuseport; location / { return 200 "hello, world\n"; } } }
CONF
nginx -c "$WORK/backend/nginx.conf" -p "$WORK/backend" & PIDS+=($!)

declare -A PORT PID
start_sluice() { # name concurrency
	local port
	port=$(free_port)
	cat > "$WORK/$1.yaml" <<CONF
concurrency: $2
log: { level: error, format: console }
listeners:
- name: main
  address: 127.0.0.1:$port
  filter_chains:
  - filters:
    - name: http_connection_manager
      config:
        stat_prefix: bench
        generate_request_id: false
        http_filters: [{ name: router }]
        route_config:
          virtual_hosts:
          - name: all
            domains: ["*"]
            routes:
            - match: { prefix: / }
              route: { cluster: backend }
clusters:
- name: backend
  load_assignment:
    endpoints:
    - lb_endpoints:
      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $BACKEND } } }
CONF
	build/sluice run -c "$WORK/$1.yaml" & PIDS+=($!)
	PORT[$1]=$port
	PID[$1]=$!
}
start_sluice "workers=$CPUS" "$CPUS"
start_sluice "workers=$((4 * CPUS))" "$((4 * CPUS))"
wait_port "$BACKEND"
for n in "${!PORT[@]}"; do wait_port "${PORT[$n]}"; done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A RPS P50 P99 CPU
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $CPUS CPUs"
for n in "${!PORT[@]}"; do wrk -t2 -c"$CONNS" -d2s "http://127.0.0.1:${PORT[$n]}/" >/dev/null; done
for round in $(seq "$ROUNDS"); do
	for n in "workers=$CPUS" "workers=$((4 * CPUS))"; do
		before=$(cpu_ticks "${PID[$n]}")
		out=$(wrk -t2 -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:${PORT[$n]}/")
		after=$(cpu_ticks "${PID[$n]}")
		read -r rps reqs p50 p99 < <(awk '/Requests\/sec/ {r=$2} /requests in/ {q=$1} $1=="50%" {p50=$2} $1=="99%" {p99=$2} END {print r, q, p50, p99}' <<<"$out")
		RPS[$n]+="$rps "; P50[$n]+="$p50 "; P99[$n]+="$p99 "
		CPU[$n]+="$(awk -v t=$((after - before)) -v hz="$TICK" -v q="$reqs" 'BEGIN { printf "%.1f", t / hz * 1e6 / q }') "
	done
done
echo "== sluice proxying, wrk -t2 -c$CONNS -d$DURATION; median of $ROUNDS rounds =="
printf '%-12s %10s %14s   %s\n' target "req/s" "CPU µs/req" "runs (req/s | p50 | p99 | µs/req)"
for n in "workers=$CPUS" "workers=$((4 * CPUS))"; do
	printf '%-12s %10s %14s   %s | %s | %s | %s\n' "$n" \
		"$(tr ' ' '\n' <<<"${RPS[$n]}" | grep . | median)" "$(tr ' ' '\n' <<<"${CPU[$n]}" | grep . | median)" \
		"${RPS[$n]}" "${P50[$n]}" "${P99[$n]}" "${CPU[$n]}"
done
