#!/usr/bin/env bash
# TCP proxying, side by side, one worker each: sluice tcp_proxy vs haproxy
# (mode tcp) vs nginx stream vs the backend itself. Two loads, interleaved
# round after round, medians reported:
#   bulk  — one connection streams BYTES from the backend through the proxy
#           (throughput, and the proxy's CPU per GiB)
#   conns — C clients open connections in a loop (connect, 1-byte echo,
#           close) for DURATION (rate, and the proxy's CPU per connection)
#
#   bash bench/tcp.sh
#   QUICK=1 bash bench/tcp.sh     # 256 MiB bulk, 1 s of connections (make bench-quick)
#   BYTES=4294967296 ROUNDS=5 DURATION=20s bash bench/tcp.sh
#
# Needs: nginx with the stream module (Debian: nginx-light
# libnginx-mod-stream), haproxy. Loopback only.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
if [ "${QUICK:-0}" = 1 ]; then
	BYTES=${BYTES:-268435456}; DURATION=${DURATION:-1s}
fi
BYTES=${BYTES:-1073741824}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONNS=${CONNS:-50}
need nginx haproxy
STREAM_MODULE=/usr/lib/nginx/modules/ngx_stream_module.so
[ -f $STREAM_MODULE ] || { echo "bench: nginx stream module missing (apt-get install libnginx-mod-stream)"; exit 1; }
SLUICE_BIN=${SLUICE_BIN:-$ROOT/build/sluice}
[ -x "$SLUICE_BIN" ] || make -s sluice
go build -o "$WORK/tcpbench" ./bench/tcpbench

BACKEND=$(free_port); SLUICE=$(free_port); HAPROXY=$(free_port); NGINX=$(free_port)
"$WORK/tcpbench" backend -addr 127.0.0.1:$BACKEND >/dev/null & track $!

cat > "$WORK/sluice.yaml" <<CONF
concurrency: 1
log: { level: error, format: console }
listeners:
- name: tcp
  address: 127.0.0.1:$SLUICE
  filter_chains:
  - filters:
    - name: tcp_proxy
      config: { stat_prefix: bench, cluster: backend }
clusters:
- name: backend
  max_connections: 100000
  load_assignment:
    endpoints:
    - lb_endpoints:
      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $BACKEND } } }
CONF
"$SLUICE_BIN" run -c "$WORK/sluice.yaml" & PID_sluice=$!; track $!

cat > "$WORK/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 8000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend fe
  bind 127.0.0.1:$HAPROXY
  default_backend be
backend be
  server s1 127.0.0.1:$BACKEND
CONF
haproxy -f "$WORK/haproxy.cfg" -q & PID_haproxy=$!; track $!

mkdir -p "$WORK/nginx"
cat > "$WORK/nginx/nginx.conf" <<CONF
load_module $STREAM_MODULE;
worker_processes 1; daemon off; master_process off; pid $WORK/nginx/nginx.pid; error_log stderr error;
events { worker_connections 8000; }
stream { server { listen 127.0.0.1:$NGINX reuseport; proxy_pass 127.0.0.1:$BACKEND; } }
CONF
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" & PID_nginx=$!; track $!

for p in $BACKEND $SLUICE $HAPROXY $NGINX; do wait_port $p; done
declare -A PORT=([sluice]=$SLUICE [haproxy]=$HAPROXY [nginx]=$NGINX [direct]=$BACKEND)
declare -A PIDOF=([sluice]=$PID_sluice [haproxy]=$PID_haproxy [nginx]=$PID_nginx)
declare -A GBS CPUGIB CPS CPUCONN
echo "== bench/tcp.sh: $(load_line)"
for round in $(seq "$ROUNDS"); do
	for t in direct sluice haproxy nginx; do
		pid=${PIDOF[$t]:-}
		[ -n "$pid" ] && before=$(cpu_us "$pid")
		read -r bytes secs < <("$WORK/tcpbench" bulk -proxy 127.0.0.1:${PORT[$t]} -bytes "$BYTES")
		GBS[$t]+="$(awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.2f", b / s / 1e9 * 8 }') "
		if [ -n "$pid" ]; then
			after=$(cpu_us "$pid")
			CPUGIB[$t]+="$(awk -v t=$((after - before)) -v b="$bytes" 'BEGIN { printf "%.3f", t / 1e6 / (b / 2^30) }') "
		fi
		[ -n "$pid" ] && before=$(cpu_us "$pid")
		read -r n secs < <("$WORK/tcpbench" conns -proxy 127.0.0.1:${PORT[$t]} -c "$CONNS" -d "$DURATION")
		CPS[$t]+="$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", n / s }') "
		if [ -n "$pid" ]; then
			after=$(cpu_us "$pid")
			CPUCONN[$t]+="$(us_per $((after - before)) "$n") "
		fi
	done
done
echo "== tcp_proxy, one worker each; bulk: $BYTES bytes on one connection; conns: $CONNS clients x $DURATION; median of $ROUNDS rounds =="
printf '%-8s %12s %14s %12s %14s\n' target "Gbit/s" "CPU s/GiB" "conn/s" "CPU µs/conn"
for t in direct sluice haproxy nginx; do
	printf '%-8s %12s %14s %12s %14s   runs: %s| %s| %s| %s\n' "$t" "$(med "${GBS[$t]}")" "$(med "${CPUGIB[$t]:-}")" \
		"$(med "${CPS[$t]}")" "$(med "${CPUCONN[$t]:-}")" "${GBS[$t]}" "${CPUGIB[$t]:-}" "${CPS[$t]}" "${CPUCONN[$t]:-}"
done
echo
echo "sluice / haproxy: throughput $(ratio "$(med "${GBS[sluice]}")" "$(med "${GBS[haproxy]}")"), conn/s $(ratio "$(med "${CPS[sluice]}")" "$(med "${CPS[haproxy]}")"), CPU per GiB (haproxy / sluice) $(ratio "$(med "${CPUGIB[haproxy]}")" "$(med "${CPUGIB[sluice]}")"), CPU per conn (haproxy / sluice) $(ratio "$(med "${CPUCONN[haproxy]}")" "$(med "${CPUCONN[sluice]}")")"
echo "sluice / nginx:   throughput $(ratio "$(med "${GBS[sluice]}")" "$(med "${GBS[nginx]}")"), conn/s $(ratio "$(med "${CPS[sluice]}")" "$(med "${CPS[nginx]}")"), CPU per GiB (nginx / sluice) $(ratio "$(med "${CPUGIB[nginx]}")" "$(med "${CPUGIB[sluice]}")"), CPU per conn (nginx / sluice) $(ratio "$(med "${CPUCONN[nginx]}")" "$(med "${CPUCONN[sluice]}")")"
