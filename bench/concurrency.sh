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
. "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-10s}
CONNS=${CONNS:-100}
ROUNDS=${ROUNDS:-3}
CPUS=$(nproc)
need nginx wrk
[ -x build/sluice ] || make -s sluice

BACKEND=$(free_port)
backend_nginx "$BACKEND"

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
	build/sluice run -c "$WORK/$1.yaml" & track $!
	PORT[$1]=$port
	PID[$1]=$!
}
start_sluice "workers=$CPUS" "$CPUS"
start_sluice "workers=$((4 * CPUS))" "$((4 * CPUS))"
wait_port "$BACKEND"
for n in "${!PORT[@]}"; do wait_port "${PORT[$n]}"; done

declare -A RPS P50 P99 CPU
echo "== bench/concurrency.sh: $(load_line)"
for n in "${!PORT[@]}"; do wrk -t2 -c"$CONNS" -d2s "http://127.0.0.1:${PORT[$n]}/" >/dev/null; done
for round in $(seq "$ROUNDS"); do
	for n in "workers=$CPUS" "workers=$((4 * CPUS))"; do
		before=$(cpu_us "${PID[$n]}")
		out=$(wrk -t2 -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:${PORT[$n]}/")
		after=$(cpu_us "${PID[$n]}")
		read -r rps reqs p50 p99 < <(awk '/Requests\/sec/ {r=$2} /requests in/ {q=$1} $1=="50%" {p50=$2} $1=="99%" {p99=$2} END {print r, q, p50, p99}' <<<"$out")
		RPS[$n]+="$rps "; P50[$n]+="$p50 "; P99[$n]+="$p99 "
		CPU[$n]+="$(us_per $((after - before)) "$reqs") "
	done
done
echo "== sluice proxying, wrk -t2 -c$CONNS -d$DURATION; median of $ROUNDS rounds =="
printf '%-12s %10s %14s   %s\n' target "req/s" "CPU µs/req" "runs (req/s | p50 | p99 | µs/req)"
for n in "workers=$CPUS" "workers=$((4 * CPUS))"; do
	printf '%-12s %10s %14s   %s | %s | %s | %s\n' "$n" \
		"$(med "${RPS[$n]}")" "$(med "${CPU[$n]}")" \
		"${RPS[$n]}" "${P50[$n]}" "${P99[$n]}" "${CPU[$n]}"
done
