#!/usr/bin/env bash
# Side-by-side load benchmark on loopback, one worker each:
#   direct backend | sluice | sluice + passthrough module | nginx | haproxy
# The backend is nginx serving a small fixed response with keep-alive; every
# proxy keeps a keep-alive pool to it. Prints req/s, latency and ratios.
#
#   bash bench/run.sh              # 10 s per run, 50 connections
#   DURATION=30s CONNS=100 bash bench/run.sh
#
# Needs: nginx, haproxy, wrk, h2load (Debian: nginx-light haproxy wrk
# nghttp2-client). Only loopback addresses are used.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-10s}
CONNS=${CONNS:-50}
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

declare -A RPS
run() { # name port
	local out rps p50 p99
	wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$2/" >/dev/null   # warm-up
	out=$(wrk -t1 -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$2/")
	rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
	p50=$(awk '$1=="50%" {print $2}' <<<"$out")
	p99=$(awk '$1=="99%" {print $2}' <<<"$out")
	RPS[$1]=$rps
	printf '%-22s %10s req/s   p50 %8s   p99 %8s\n' "$1" "$rps" "$p50" "$p99"
}
echo "== HTTP/1.1, wrk -t1 -c$CONNS -d$DURATION, one worker each, keep-alive upstream =="
run direct-backend $BACKEND
run sluice $SLUICE
run sluice+passthrough.so $SLUICE_MOD
run nginx $NGINX
run haproxy $HAPROXY
ratio() { awk -v a="${RPS[$1]}" -v b="${RPS[$2]}" 'BEGIN { printf "%.2f", a/b }'; }
echo
echo "sluice / nginx                 = $(ratio sluice nginx)"
echo "sluice / haproxy               = $(ratio sluice haproxy)"
echo "sluice+passthrough / sluice    = $(ratio sluice+passthrough.so sluice)"
echo "sluice / direct backend        = $(ratio sluice direct-backend)"

echo
echo "== HTTP/2 (h2c prior knowledge), h2load -c10 -m10 -D ${DURATION%s}, one worker each =="
h2run() { # name port
	local out rps
	out=$(h2load -c10 -m10 -D "${DURATION%s}" "http://127.0.0.1:$2/" 2>&1)
	rps=$(awk '/^finished in/ {print $4}' <<<"$out")
	RPS[$1]=$rps
	printf '%-22s %10s req/s   %s\n' "$1" "$rps" "$(grep -m1 '^requests:' <<<"$out")"
}
h2run sluice-h2 $SLUICE
h2run nginx-h2 $NGINX_H2
echo
echo "sluice-h2 / nginx-h2           = $(ratio sluice-h2 nginx-h2)"
