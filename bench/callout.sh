#!/usr/bin/env bash
# The cost of an authorization check per request: the same sluice (one
# worker) proxying to an nginx backend, without and with the ext_authz
# example module, which sends every request's check to an nginx
# "authorization service" (200, x-user-id) through an HTTP callout.
# Prints req/s, p50/p99 and sluice's CPU per request (process CPU time from
# /proc ÷ requests served), medians of interleaved rounds.
#
#   bash bench/callout.sh
#   DURATION=20s ROUNDS=5 bash bench/callout.sh
#
# Needs: nginx, wrk. Loopback only.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-10s}
CONNS=${CONNS:-50}
ROUNDS=${ROUNDS:-3}
# A check that outlasts it fails closed (403) and aborts the run: generous,
# since this measures cost, not the timeout (a loaded machine needs it).
AUTHZ_TIMEOUT_MS=${AUTHZ_TIMEOUT_MS:-1000}
need nginx wrk
[ -x build/sluice ] && [ -f build/modules/ext_authz.so ] || make -s sluice modules

# One nginx, one worker: the backend and the authorization service.
BACKEND=$(free_port)
AUTH=$(free_port)
mkdir -p "$WORK/nginx"
cat > "$WORK/nginx/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $WORK/nginx/nginx.pid; error_log stderr error;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$BACKEND reuseport; location / { return 200 "hello, world\n"; } }
  server { listen 127.0.0.1:$AUTH reuseport;
    location /check { add_header x-user-id alice; return 200; } } }
CONF
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" & track $!

declare -A PORT PID
start_sluice() { # name, http_filters entries
	local port
	port=$(free_port)
	cat > "$WORK/$1.yaml" <<CONF
concurrency: 1
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
        http_filters:
$2
        - name: router
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
- name: authz
  load_assignment:
    endpoints:
    - lb_endpoints:
      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $AUTH } } }
CONF
	build/sluice run -c "$WORK/$1.yaml" & track $!
	PORT[$1]=$port
	PID[$1]=$!
}
start_sluice sluice ""
start_sluice sluice+ext_authz "        - name: authz
          module: $PWD/build/modules/ext_authz.so
          filter_name: ext_authz
          config: { cluster: authz, path_prefix: /check, timeout_ms: $AUTHZ_TIMEOUT_MS, allowed_headers: [authorization], allowed_upstream_headers: [x-user-id] }"
wait_port "$BACKEND"; wait_port "$AUTH"
for n in "${!PORT[@]}"; do wait_port "${PORT[$n]}"; done

NAMES=(sluice sluice+ext_authz)
declare -A RPS P50 P99 CPU
echo "before: $(load_line)"
for n in "${NAMES[@]}"; do wrk -t1 -c"$CONNS" -d2s -H 'authorization: Bearer x' "http://127.0.0.1:${PORT[$n]}/" >/dev/null; done
for round in $(seq "$ROUNDS"); do
	for n in "${NAMES[@]}"; do
		before=$(cpu_us "${PID[$n]}")
		out=$(wrk -t1 -c"$CONNS" -d"$DURATION" --latency -H 'authorization: Bearer x' "http://127.0.0.1:${PORT[$n]}/")
		after=$(cpu_us "${PID[$n]}")
		read -r rps reqs p50 p99 non2xx < <(awk '/Requests\/sec/ {r=$2} /requests in/ {q=$1} $1=="50%" {p50=$2} $1=="99%" {p99=$2} /Non-2xx/ {bad=$NF} END {print r, q, p50, p99, bad+0}' <<<"$out")
		# ext_authz fails closed with 403: a non-2xx answer means a check failed.
		[ "$non2xx" = 0 ] || { echo "bench: $n answered $non2xx non-2xx responses"; exit 1; }
		RPS[$n]+="$rps "; P50[$n]+="$p50 "; P99[$n]+="$p99 "
		CPU[$n]+="$(us_per "$((after - before))" "$reqs") "
	done
done
echo "after: $(load_line)"
echo "== one worker, wrk -t1 -c$CONNS -d$DURATION; median of $ROUNDS rounds =="
printf '%-18s %10s %14s   %s\n' target "req/s" "CPU µs/req" "runs (req/s | p50 | p99 | µs/req)"
for n in "${NAMES[@]}"; do
	printf '%-18s %10s %14s   %s | %s | %s | %s\n' "$n" \
		"$(med "${RPS[$n]}")" "$(med "${CPU[$n]}")" \
		"${RPS[$n]}" "${P50[$n]}" "${P99[$n]}" "${CPU[$n]}"
done
