#!/usr/bin/env bash
# Side-by-side load benchmark on loopback, one worker each:
#   direct backend | sluice | sluice + passthrough module | nginx | haproxy
# The backend is nginx serving a small fixed response with keep-alive; every
# proxy keeps a keep-alive pool to it. Prints req/s, latency and ratios.
#
#   bash bench/run.sh              # 3 rounds x 10 s per target, 50 connections
#   DURATION=30s CONNS=100 ROUNDS=5 bash bench/run.sh
#
# Targets run interleaved, round after round, and each figure is the median
# of its rounds: on a shared 2-core machine one run alone is too noisy.
#
# Needs: nginx, haproxy, wrk, h2load (Debian: nginx-light haproxy wrk
# nghttp2-client). Only loopback addresses are used.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-10s}
CONNS=${CONNS:-50}
ROUNDS=${ROUNDS:-3}
for tool in nginx haproxy wrk h2load; do
	command -v $tool >/dev/null || { echo "bench: $tool missing (apt-get install nginx-light haproxy wrk nghttp2-client)"; exit 1; }
done
[ -x build/sluice ] && [ -f build/modules/passthrough.so ] || make -s sluice modules

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

BACKEND=$(free_port); SLUICE=$(free_port); SLUICE_MOD=$(free_port); NGINX_H2=$(free_port); NGINX=$(free_port); HAPROXY=$(free_port)

# Backend: nginx, 1 worker, fixed 13-byte body.
mkdir -p "$WORK/backend"
cat > "$WORK/backend/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $WORK/backend/nginx.pid; error_log stderr error;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$BACKEND reuseport; location / { return 200 "hello, world\n"; } } }
CONF
nginx -c "$WORK/backend/nginx.conf" -p "$WORK/backend" & PIDS+=($!)

# nginx as a proxy with a keep-alive upstream.
mkdir -p "$WORK/nginx"
cat > "$WORK/nginx/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $WORK/nginx/nginx.pid; error_log stderr error;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  upstream be { server 127.0.0.1:$BACKEND; keepalive 128; }
  server { listen 127.0.0.1:$NGINX reuseport;
    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; } }
  # nginx 1.22 speaks h2c (prior knowledge) only on a listener of its own.
  server { listen 127.0.0.1:$NGINX_H2 http2;
    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
CONF
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" & PIDS+=($!)

# haproxy, one thread, keep-alive to the backend.
cat > "$WORK/haproxy.cfg" <<CONF
global
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend fe
  bind 127.0.0.1:$HAPROXY
  default_backend be
backend be
  server s1 127.0.0.1:$BACKEND
CONF
haproxy -f "$WORK/haproxy.cfg" -q & PIDS+=($!)

# sluice, one worker, without and with the passthrough module.
sluice_config() { # port, filters
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
CONF
}
sluice_config "$SLUICE" "" > "$WORK/sluice.yaml"
sluice_config "$SLUICE_MOD" "        - { name: pass, module: $ROOT/build/modules/passthrough.so, filter_name: passthrough }" > "$WORK/sluice-mod.yaml"
build/sluice run -c "$WORK/sluice.yaml" & PIDS+=($!)
build/sluice run -c "$WORK/sluice-mod.yaml" & PIDS+=($!)

for p in $BACKEND $SLUICE $SLUICE_MOD $NGINX $NGINX_H2 $HAPROXY; do wait_port $p; done

declare -A RPS P50 P99
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
wrk_once() { # port -> "rps p50 p99"
	local out
	out=$(wrk -t1 -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$1/")
	awk '/Requests\/sec/ {r=$2} $1=="50%" {p50=$2} $1=="99%" {p99=$2} END {print r, p50, p99}' <<<"$out"
}
h2_once() { # port -> rps
	h2load -c10 -m10 -D "${DURATION%s}" "http://127.0.0.1:$1/" 2>&1 | awk '/^finished in/ {print $4}'
}
H1=(direct-backend:$BACKEND sluice:$SLUICE sluice+passthrough.so:$SLUICE_MOD nginx:$NGINX haproxy:$HAPROXY)
H2=(sluice-h2:$SLUICE nginx-h2:$NGINX_H2)
declare -A RUNS P50S P99S
for t in "${H1[@]}"; do wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:${t#*:}/" >/dev/null; done # warm-up
for round in $(seq "$ROUNDS"); do
	for t in "${H1[@]}"; do
		read -r rps p50 p99 < <(wrk_once "${t#*:}")
		RUNS[${t%%:*}]+="$rps "; P50S[${t%%:*}]+="$p50 "; P99S[${t%%:*}]+="$p99 "
	done
	for t in "${H2[@]}"; do RUNS[${t%%:*}]+="$(h2_once "${t#*:}") "; done
done
for name in "${!RUNS[@]}"; do RPS[$name]=$(tr ' ' '\n' <<<"${RUNS[$name]}" | grep . | median); done
ratio() { awk -v a="${RPS[$1]}" -v b="${RPS[$2]}" 'BEGIN { printf "%.2f", a/b }'; }

echo "== HTTP/1.1: wrk -t1 -c$CONNS -d$DURATION, one worker each, keep-alive upstream; median of $ROUNDS rounds =="
for t in "${H1[@]}"; do
	n=${t%%:*}
	printf '%-22s %10s req/s   runs: %s  p50s: %s  p99s: %s\n' "$n" "${RPS[$n]}" "${RUNS[$n]}" "${P50S[$n]}" "${P99S[$n]}"
done
echo
echo "sluice / nginx                 = $(ratio sluice nginx)"
echo "sluice / haproxy               = $(ratio sluice haproxy)"
echo "sluice+passthrough / sluice    = $(ratio sluice+passthrough.so sluice)"
echo "sluice / direct backend        = $(ratio sluice direct-backend)"
echo
echo "== HTTP/2 (h2c prior knowledge): h2load -c10 -m10 -D ${DURATION%s}, one worker each; median of $ROUNDS rounds =="
for t in "${H2[@]}"; do
	n=${t%%:*}
	printf '%-22s %10s req/s   runs: %s\n' "$n" "${RPS[$n]}" "${RUNS[$n]}"
done
echo
echo "sluice-h2 / nginx-h2           = $(ratio sluice-h2 nginx-h2)"
