#!/usr/bin/env bash
# TLS termination, side by side, one worker each: sluice vs nginx on the
# same ECDSA P-256 certificate (made here with openssl), both answering
# locally (sluice: direct_response; nginx: return 200) so the figures are
# about TLS and HTTP, not a backend. Three loads, interleaved round after
# round, medians reported, with the server's CPU per request:
#   keepalive — wrk -t1 -cCONNS over HTTPS/1.1 keep-alive connections
#   handshake — tlsbench: C clients doing full handshakes (no resumption,
#               X25519 + ECDSA P-256), one request each ("Connection: close")
#   h2        — h2load -c10 -m10 over TLS (ALPN h2)
#
#   bash bench/tls.sh
#   QUICK=1 bash bench/tls.sh        # 1 round of 1 s loads (make bench-quick)
#   DURATION=10s ROUNDS=5 bash bench/tls.sh
#   CANDIDATES=1 bash bench/tls.sh   # also the TLS designs of host/worker/RATIONALE.md
#
# sluice runs with GOMAXPROCS=2 (the VM's CPUs: handshakes run on helper
# goroutines, which may use the second CPU) and again as "sluice-1cpu"
# with GOMAXPROCS=1 for the handshake load (one CPU in all, as nginx's one
# worker process). Needs nginx (with http_v2 and ssl), wrk, h2load,
# openssl. Loopback only.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
if [ "${QUICK:-0}" = 1 ]; then
	DURATION=${DURATION:-1s}; ROUNDS=${ROUNDS:-1}; WARMUP=${WARMUP:-1s}
fi
WARMUP=${WARMUP:-2s}
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-50}
HSCLIENTS=${HSCLIENTS:-50}
CANDIDATES=${CANDIDATES:-0}
need nginx wrk h2load openssl
[ -x build/sluice ] || make -s sluice
go build -o "$WORK/tlsbench" ./bench/tlsbench
[ "$CANDIDATES" = 1 ] && go build -o "$WORK/httpbench" ./host/worker/internal/httpbench

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
	-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

SLUICE=$(free_port); SLUICE1=$(free_port); NGINX=$(free_port); NGINX_H2=$(free_port)
sluice_config() { # port
	cat <<CONF
concurrency: 1
log: { level: error, format: console }
listeners:
- name: https
  address: 127.0.0.1:$1
  filter_chains:
  - transport_socket:
      name: tls
      config:
        common_tls_context:
          tls_certificates:
          - certificate_chain: { filename: $WORK/cert.pem }
            private_key: { filename: $WORK/key.pem }
          alpn_protocols: [h2, http/1.1]
    filters:
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
              direct_response: { status: 200, body: { inline_string: "hello, world\n" } }
CONF
}
sluice_config "$SLUICE" > "$WORK/sluice.yaml"
sluice_config "$SLUICE1" > "$WORK/sluice1.yaml"
GOMAXPROCS=2 build/sluice run -c "$WORK/sluice.yaml" & PID_sluice=$!; track $!
GOMAXPROCS=1 build/sluice run -c "$WORK/sluice1.yaml" & PID_sluice1=$!; track $!

mkdir -p "$WORK/nginx"
cat > "$WORK/nginx/nginx.conf" <<CONF
worker_processes 1; daemon off; master_process off; pid $WORK/nginx/nginx.pid; error_log stderr error;
events { worker_connections 8000; }
http { access_log off; keepalive_requests 1000000;
  ssl_certificate $WORK/cert.pem; ssl_certificate_key $WORK/key.pem;
  ssl_protocols TLSv1.2 TLSv1.3; ssl_session_tickets on;
  server { listen 127.0.0.1:$NGINX ssl reuseport; location / { return 200 "hello, world\n"; } }
  server { listen 127.0.0.1:$NGINX_H2 ssl http2 reuseport; location / { return 200 "hello, world\n"; } } }
CONF
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" & PID_nginx=$!; track $!

declare -A PORT=([sluice]=$SLUICE [sluice-1cpu]=$SLUICE1 [nginx]=$NGINX [nginx-h2]=$NGINX_H2)
declare -A PIDOF=([sluice]=$PID_sluice [sluice-1cpu]=$PID_sluice1 [nginx]=$PID_nginx [nginx-h2]=$PID_nginx)
KA_TARGETS=(sluice nginx)
HS_TARGETS=(sluice sluice-1cpu nginx)
if [ "$CANDIDATES" = 1 ]; then
	# The two TLS designs of host/worker/RATIONALE.md on the worker
	# micro-server (no connection manager): StartTLS (the helper goroutine
	# does the handshake's socket I/O; records on the loop over the socket)
	# and the in-memory-conn design (the loop feeds the helper through a
	# channel, the helper posts its writes back; records on the loop over
	# an in-memory conn).
	for m in worker memtls; do
		port=$(free_port)
		GOMAXPROCS=2 "$WORK/httpbench" -mode $m -addr 127.0.0.1:$port -cert "$WORK/cert.pem" -key "$WORK/key.pem" 2>/dev/null & track $!
		PORT[micro-$m]=$port; PIDOF[micro-$m]=$!
		KA_TARGETS+=(micro-$m); HS_TARGETS+=(micro-$m)
	done
fi
for t in "${!PORT[@]}"; do wait_port "${PORT[$t]}"; done

declare -A KA KACPU HS HSCPU H2 H2CPU
echo "== bench/tls.sh: $(load_line)"
for t in "${KA_TARGETS[@]}"; do wrk -t1 -c"$CONNS" -d"$WARMUP" "https://127.0.0.1:${PORT[$t]}/" >/dev/null; done # warm-up
for round in $(seq "$ROUNDS"); do
	for t in "${KA_TARGETS[@]}"; do
		pid=${PIDOF[$t]}; before=$(cpu_us "$pid")
		read -r n rps < <(wrk -t1 -c"$CONNS" -d"$DURATION" "https://127.0.0.1:${PORT[$t]}/" |
			awk '/ requests in / {n=$1} /Requests\/sec/ {r=$2} END {print n, r}')
		KA[$t]+="$rps "; KACPU[$t]+="$(us_per $(($(cpu_us "$pid") - before)) "$n") "
	done
	for t in "${HS_TARGETS[@]}"; do
		pid=${PIDOF[$t]}; before=$(cpu_us "$pid")
		read -r n secs errs < <("$WORK/tlsbench" -addr "127.0.0.1:${PORT[$t]}" -c "$HSCLIENTS" -d "$DURATION")
		[ "$errs" = 0 ] || echo "warning: $t: $errs failed handshakes"
		HS[$t]+="$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", n / s }') "
		HSCPU[$t]+="$(us_per $(($(cpu_us "$pid") - before)) "$n") "
	done
	for t in sluice nginx-h2; do
		pid=${PIDOF[$t]}; before=$(cpu_us "$pid")
		read -r n rps < <(h2load -c10 -m10 -D "${DURATION%s}" "https://127.0.0.1:${PORT[$t]}/" 2>&1 |
			awk '/^requests:/ {n=$8} /^finished in/ {r=$4} END {print n, r}')
		H2[$t]+="$rps "; H2CPU[$t]+="$(us_per $(($(cpu_us "$pid") - before)) "$n") "
	done
done
echo "== HTTPS/1.1 keep-alive: wrk -t1 -c$CONNS -d$DURATION; median of $ROUNDS rounds =="
printf '%-14s %10s %14s   runs\n' target req/s "CPU µs/req"
for t in "${KA_TARGETS[@]}"; do
	printf '%-14s %10s %14s   %s| %s\n' "$t" "$(med "${KA[$t]}")" "$(med "${KACPU[$t]}")" "${KA[$t]}" "${KACPU[$t]}"
done
echo
echo "== full handshakes: tlsbench -c $HSCLIENTS -d $DURATION (TLS 1.3, X25519, ECDSA P-256, no resumption); median of $ROUNDS rounds =="
printf '%-14s %10s %14s   runs\n' target "handshakes/s" "CPU µs/hs"
for t in "${HS_TARGETS[@]}"; do
	printf '%-14s %10s %14s   %s| %s\n' "$t" "$(med "${HS[$t]}")" "$(med "${HSCPU[$t]}")" "${HS[$t]}" "${HSCPU[$t]}"
done
echo
echo "== HTTP/2 over TLS: h2load -c10 -m10 -D ${DURATION%s}; median of $ROUNDS rounds =="
printf '%-14s %10s %14s   runs\n' target req/s "CPU µs/req"
for t in sluice nginx-h2; do
	printf '%-14s %10s %14s   %s| %s\n' "$t" "$(med "${H2[$t]}")" "$(med "${H2CPU[$t]}")" "${H2[$t]}" "${H2CPU[$t]}"
done
echo
echo "sluice / nginx: keep-alive req/s $(ratio "$(med "${KA[sluice]}")" "$(med "${KA[nginx]}")"), CPU per request (nginx / sluice) $(ratio "$(med "${KACPU[nginx]}")" "$(med "${KACPU[sluice]}")")"
echo "sluice / nginx: handshakes/s $(ratio "$(med "${HS[sluice]}")" "$(med "${HS[nginx]}")") (GOMAXPROCS=1: $(ratio "$(med "${HS[sluice-1cpu]}")" "$(med "${HS[nginx]}")")), CPU per handshake (nginx / sluice) $(ratio "$(med "${HSCPU[nginx]}")" "$(med "${HSCPU[sluice]}")")"
echo "sluice / nginx: h2 req/s $(ratio "$(med "${H2[sluice]}")" "$(med "${H2[nginx-h2]}")"), CPU per request (nginx / sluice) $(ratio "$(med "${H2CPU[nginx-h2]}")" "$(med "${H2CPU[sluice]}")")"
