#!/usr/bin/env bash
# gRPC through sluice vs direct, on loopback:
#   1. h2load, a unary gRPC call (POST application/grpc, one framed message,
#      grpc-status in trailers): req/s and CPU per request of sluice;
#   2. 1000 concurrent unary calls on one HTTP/2 connection (grpcbench
#      fanout): time until all are answered, through sluice with its
#      default max_concurrent_streams (1024), with the old limit (100), and
#      direct.
#
#   bash bench/grpc.sh                  # 3 rounds, h2load -c10 -m100 -D 10
#   ROUNDS=5 DURATION=20 bash bench/grpc.sh
#
# The backend is grpcbench's gRPC-style echo server (net/http + x/net/http2,
# unlimited streams); sluice runs one worker with an HTTP/2 cluster to it.
# Needs h2load (Debian: nghttp2-client). Only loopback addresses are used.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CALLS=${CALLS:-1000}
command -v h2load >/dev/null || { echo "bench: h2load missing (apt-get install nghttp2-client)"; exit 1; }
[ -x build/sluice ] || make -s sluice

WORK=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
go build -o "$WORK/grpcbench" ./bench/grpcbench

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened"; exit 1; }

BACKEND=$(free_port); SLUICE=$(free_port); SLUICE100=$(free_port)
"$WORK/grpcbench" backend -addr 127.0.0.1:$BACKEND & PIDS+=($!)

sluice_config() { # port, extra hcm lines
	cat <<CONF
concurrency: 1
log: { level: warn, format: console }
listeners:
- name: main
  address: 127.0.0.1:$1
  filter_chains:
  - filters:
    - name: http_connection_manager
      config:
        stat_prefix: bench
        generate_request_id: false
$2
        http_filters:
        - name: router
        route_config:
          virtual_hosts:
          - name: all
            domains: ["*"]
            routes:
            - match: { prefix: / }
              route: { cluster: grpc, max_stream_duration: { grpc_timeout_header_max: 0s } }
clusters:
- name: grpc
  http2_protocol_options: { max_concurrent_streams: 2000 }
  load_assignment:
    endpoints:
    - lb_endpoints:
      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $BACKEND } } }
CONF
}
sluice_config "$SLUICE" "" > "$WORK/sluice.yaml"
sluice_config "$SLUICE100" "        http2_protocol_options: { max_concurrent_streams: 100 }" > "$WORK/sluice100.yaml"
build/sluice run -c "$WORK/sluice.yaml" & SLUICE_PID=$!; PIDS+=($SLUICE_PID)
build/sluice run -c "$WORK/sluice100.yaml" & PIDS+=($!)
for p in $BACKEND $SLUICE $SLUICE100; do wait_port $p; done
"$WORK/grpcbench" request > "$WORK/req.bin"

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
h2load_once() { # port pid -> "rps cpu_us_per_request"
	local before after out rps n
	before=$(cpu_ticks "$2")
	out=$(h2load -c10 -m100 -D "$DURATION" -d "$WORK/req.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
		"http://127.0.0.1:$1/echo.Echo/Unary" 2>&1)
	after=$(cpu_ticks "$2")
	rps=$(awk '/^finished in/ {print $4}' <<<"$out")
	n=$(awk '/^requests:/ {print $8}' <<<"$out") # succeeded
	awk -v r="$rps" -v d=$((after - before)) -v n="$n" -v t="$TICK" 'BEGIN { printf "%s %.1f\n", r, d / t / n * 1e6 }'
}
BACKEND_PID=${PIDS[0]}
declare -A RUNS CPU
for round in $(seq "$ROUNDS"); do
	read -r rps cpu < <(h2load_once "$BACKEND" "$BACKEND_PID"); RUNS[direct]+="$rps "; CPU[direct]+="$cpu "
	read -r rps cpu < <(h2load_once "$SLUICE" "$SLUICE_PID"); RUNS[sluice]+="$rps "; CPU[sluice]+="$cpu "
done
echo "== unary gRPC: h2load -c10 -m100 -D $DURATION -d req.bin (5-byte-framed message), median of $ROUNDS rounds =="
for n in direct sluice; do
	printf '%-8s %10s req/s  runs: %s  CPU/request (µs, the target process): %s  median %s\n' "$n" \
		"$(tr ' ' '\n' <<<"${RUNS[$n]}" | grep . | median)" "${RUNS[$n]}" "${CPU[$n]}" "$(tr ' ' '\n' <<<"${CPU[$n]}" | grep . | median)"
done
echo
echo "== $CALLS concurrent unary calls on one connection (grpcbench fanout, $ROUNDS rounds) =="
for t in direct:$BACKEND sluice:$SLUICE sluice-max-streams-100:$SLUICE100; do
	echo "-- ${t%%:*}"
	"$WORK/grpcbench" fanout -url "http://127.0.0.1:${t#*:}/echo.Echo/Unary" -calls "$CALLS" -rounds "$ROUNDS"
done
