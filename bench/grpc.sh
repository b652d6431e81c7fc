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
. "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CALLS=${CALLS:-1000}
need h2load
[ -x build/sluice ] || make -s sluice
go build -o "$WORK/grpcbench" ./bench/grpcbench

BACKEND=$(free_port); SLUICE=$(free_port); SLUICE100=$(free_port)
"$WORK/grpcbench" backend -addr 127.0.0.1:$BACKEND & BACKEND_PID=$!; track $!

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
build/sluice run -c "$WORK/sluice.yaml" & SLUICE_PID=$!; track $!
build/sluice run -c "$WORK/sluice100.yaml" & track $!
for p in $BACKEND $SLUICE $SLUICE100; do wait_port $p; done
"$WORK/grpcbench" request > "$WORK/req.bin"

h2load_once() { # port pid -> "rps cpu_us_per_request"
	local before after out rps n
	before=$(cpu_us "$2")
	out=$(h2load -c10 -m100 -D "$DURATION" -d "$WORK/req.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
		"http://127.0.0.1:$1/echo.Echo/Unary" 2>&1)
	after=$(cpu_us "$2")
	rps=$(awk '/^finished in/ {print $4}' <<<"$out")
	n=$(awk '/^requests:/ {print $8}' <<<"$out") # succeeded
	echo "$rps $(us_per $((after - before)) "$n")"
}
echo "== bench/grpc.sh: $(load_line)"
declare -A RUNS CPU
for round in $(seq "$ROUNDS"); do
	read -r rps cpu < <(h2load_once "$BACKEND" "$BACKEND_PID"); RUNS[direct]+="$rps "; CPU[direct]+="$cpu "
	read -r rps cpu < <(h2load_once "$SLUICE" "$SLUICE_PID"); RUNS[sluice]+="$rps "; CPU[sluice]+="$cpu "
done
echo "== unary gRPC: h2load -c10 -m100 -D $DURATION -d req.bin (5-byte-framed message), median of $ROUNDS rounds =="
for n in direct sluice; do
	printf '%-8s %10s req/s  runs: %s  CPU/request (µs, the target process): %s  median %s\n' "$n" \
		"$(med "${RUNS[$n]}")" "${RUNS[$n]}" "${CPU[$n]}" "$(med "${CPU[$n]}")"
done
echo
echo "== $CALLS concurrent unary calls on one connection (grpcbench fanout, $ROUNDS rounds) =="
for t in direct:$BACKEND sluice:$SLUICE sluice-max-streams-100:$SLUICE100; do
	echo "-- ${t%%:*}"
	"$WORK/grpcbench" fanout -url "http://127.0.0.1:${t#*:}/echo.Echo/Unary" -calls "$CALLS" -rounds "$ROUNDS"
done
