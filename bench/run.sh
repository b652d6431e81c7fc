#!/usr/bin/env bash
# Side-by-side HTTP load on loopback, one worker each, req/s AND the proxy's
# CPU per request:
#   direct backend | sluice | sluice + passthrough.so (C) |
#   sluice + libpassthrough.so (Rust) | nginx | haproxy
# over HTTP/1.1 (wrk -t1) and HTTP/2 cleartext with prior knowledge
# (h2load -c10 -m10). The backend is nginx serving a fixed 13-byte body
# with keep-alive; every proxy keeps a keep-alive HTTP/1.1 pool to it.
#
#   bash bench/run.sh                      # 3 rounds x 10 s per target and protocol
#   DURATION=30s ROUNDS=5 bash bench/run.sh
#   QUICK=1 bash bench/run.sh              # 3 rounds x 1 s (make bench-quick)
#   BASELINE=/tmp/sluice-old bash bench/run.sh
#       # also "old" and "old+c": another sluice binary in the same
#       # interleaved rounds (before/after tables)
#   TARGETS="sluice sluice+c nginx" PROTOS=h1 bash bench/run.sh
#       # a subset, while iterating
#   CONNECTION_CLOSE=1 PROTOS=h1 bash bench/run.sh
#       # every HTTP/1.1 request on a new connection (wrk sends
#       # "Connection: close"): the cost of accepting and closing
#   PIN=1 bash bench/run.sh
#       # every proxy on CPU 1 (all its threads), the backend and the load
#       # generator on CPU 0: the proxy under test no longer shares a CPU
#       # with them (needs 2 CPUs and taskset; a VM may still move vCPUs)
#
# CPU per request = CPU time of the target's process over the load (every
# thread's on-CPU time from /proc/PID/task/*/schedstat, in nanoseconds —
# what /proc/PID/stat's utime + stime count in 10 ms ticks) ÷ requests the
# load generator completed. On this
# shared VM req/s moves ±15 % between rounds while CPU per request moves a
# few percent, so CPU per request is the figure to compare. For "direct"
# it is the backend's own CPU. Targets run interleaved, round after round;
# each figure is the median of its rounds.
#
# Needs: nginx, haproxy, wrk, h2load (Debian: nginx-light haproxy wrk
# nghttp2-client). Only loopback addresses are used.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
	DURATION=${DURATION:-1s}; H2DURATION=${H2DURATION:-1s}; WARMUP=${WARMUP:-1s}; IDLE=${IDLE:-2}
else
	DURATION=${DURATION:-10s}; WARMUP=${WARMUP:-2s}
fi
H2DURATION=${H2DURATION:-$DURATION}
IDLE=${IDLE:-5}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-50}
PROTOS=${PROTOS:-h1 h2}
BASELINE=${BASELINE:-}
SLUICE_BIN=${SLUICE_BIN:-$ROOT/build/sluice}
need nginx haproxy wrk h2load
[ -x "$SLUICE_BIN" ] && [ -f build/modules/passthrough.so ] || make -s sluice modules
RUST_MOD=$ROOT/build/modules/libpassthrough.so
[ -f "$RUST_MOD" ] || make -s rust-modules
[ -f "$RUST_MOD" ] || { echo "bench: $RUST_MOD missing (make rust-modules needs cargo)"; exit 1; }

declare -A H1PORT H2PORT PIDOF
ALL=(direct)

BACKEND=$(free_port); BACKEND_H2=$(free_port)
backend_nginx "$BACKEND" "$BACKEND_H2"
H1PORT[direct]=$BACKEND; H2PORT[direct]=$BACKEND_H2; PIDOF[direct]=$BACKEND_PID

# sluice: one process serves HTTP/1.1 and h2c (codec_type auto) on one port.
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
C_FILTER="        - { name: pass, module: $ROOT/build/modules/passthrough.so, filter_name: passthrough }"
RUST_FILTER="        - { name: pass, module: $RUST_MOD, filter_name: passthrough }"
start_sluice() { # name binary filters
	local port
	port=$(free_port)
	sluice_config "$port" "$3" >"$WORK/$1.yaml"
	"$2" run -c "$WORK/$1.yaml" &
	PIDOF[$1]=$!; track $!
	H1PORT[$1]=$port; H2PORT[$1]=$port
	ALL+=("$1")
}
start_sluice sluice "$SLUICE_BIN" ""
start_sluice sluice+c "$SLUICE_BIN" "$C_FILTER"
start_sluice sluice+rust "$SLUICE_BIN" "$RUST_FILTER"
if [ -n "$BASELINE" ]; then
	start_sluice old "$BASELINE" ""
	start_sluice old+c "$BASELINE" "$C_FILTER"
fi

# nginx as a proxy with a keep-alive upstream; 1.22 speaks h2c (prior
# knowledge) only on a listener of its own.
NGINX=$(free_port); NGINX_H2=$(free_port)
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes 1; daemon off; master_process off; pid $WORK/nginx/nginx.pid; error_log stderr error;
events { worker_connections 8192; }
http { access_log off; keepalive_requests 1000000;
  upstream be { server 127.0.0.1:$BACKEND; keepalive 128; }
  server { listen 127.0.0.1:$NGINX reuseport;
    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; } }
  server { listen 127.0.0.1:$NGINX_H2 http2;
    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
CONF
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
PIDOF[nginx]=$!; track $!
H1PORT[nginx]=$NGINX; H2PORT[nginx]=$NGINX_H2; ALL+=(nginx)

# haproxy, one thread, keep-alive to the backend; h2c on a bind of its own.
HAPROXY=$(free_port); HAPROXY_H2=$(free_port)
cat >"$WORK/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 8000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend fe
  bind 127.0.0.1:$HAPROXY
  bind 127.0.0.1:$HAPROXY_H2 proto h2
  default_backend be
backend be
  server s1 127.0.0.1:$BACKEND
CONF
haproxy -f "$WORK/haproxy.cfg" -q &
PIDOF[haproxy]=$!; track $!
H1PORT[haproxy]=$HAPROXY; H2PORT[haproxy]=$HAPROXY_H2; ALL+=(haproxy)

# The subset to run, in the order above.
RUN=()
for t in "${ALL[@]}"; do
	if [ -z "${TARGETS:-}" ] || [[ " $TARGETS " == *" $t "* ]]; then RUN+=("$t"); fi
done
for t in "${ALL[@]}"; do wait_port "${H1PORT[$t]}"; wait_port "${H2PORT[$t]}"; done

WRK_HEADER=()
[ "${CONNECTION_CLOSE:-0}" = 1 ] && WRK_HEADER=(-H "Connection: close")

# PIN=1: proxies on CPU 1, backend and load generators on CPU 0.
LOADGEN=()
if [ "${PIN:-0}" = 1 ]; then
	need taskset
	[ "$(nproc)" -ge 2 ] || { echo "bench: PIN=1 needs 2 CPUs"; exit 1; }
	for t in "${ALL[@]}"; do
		cpu=1; [ "$t" = direct ] && cpu=0
		taskset -a -p -c "$cpu" "${PIDOF[$t]}" >/dev/null
	done
	LOADGEN=(taskset -c 0)
fi

# One load: prints "req/s requests p50 p99 errors".
wrk_once() { # port duration
	local out
	out=$("${LOADGEN[@]}" wrk -t1 -c"$CONNS" -d"$2" --latency "${WRK_HEADER[@]}" "http://127.0.0.1:$1/")
	# Latencies in ms whatever unit wrk picked (us, ms, s).
	awk 'function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; return v * 1000 }
		/Requests\/sec/ {r=$2} /requests in/ {n=$1} $1=="50%" {p50=ms($2)} $1=="99%" {p99=ms($2)}
		/Non-2xx/ {e+=$NF} /Socket errors/ {e+=1}
		END {print r, n, p50, p99, e+0}' <<<"$out"
}
h2_once() { # port duration
	local out
	out=$("${LOADGEN[@]}" h2load -c10 -m10 -D "${2%s}" "http://127.0.0.1:$1/" 2>&1)
	# Requests still in flight when the duration ends count as "failed";
	# only answers other than 2xx are errors.
	awk '/^finished in/ {r=$4} /^requests:/ {n=$8} /^status codes:/ {e=$5+$7+$9} # "status codes: N 2xx, N 3xx, N 4xx, N 5xx"
		END {print r, n, "-", "-", e+0}' <<<"$out"
}

declare -A RPS CPU P50 P99 ERR
load_one() { # proto target duration -> appends to the runs
	local proto=$1 t=$2 pid=${PIDOF[$2]} before after rps n p50 p99 e
	before=$(cpu_us "$pid")
	if [ "$proto" = h1 ]; then
		read -r rps n p50 p99 e < <(wrk_once "${H1PORT[$t]}" "$3")
	else
		read -r rps n p50 p99 e < <(h2_once "${H2PORT[$t]}" "$3")
	fi
	after=$(cpu_us "$pid")
	RPS[$proto/$t]+="$rps "; CPU[$proto/$t]+="$(us_per $((after - before)) "$n") "
	P50[$proto/$t]+="$p50 "; P99[$proto/$t]+="$p99 "
	[ "$e" -gt 0 ] && ERR[$proto/$t]=$(( ${ERR[$proto/$t]:-0} + e ))
	return 0
}

echo "== bench/run.sh: $(load_line)"
echo "   sluice: $SLUICE_BIN ($("$SLUICE_BIN" version 2>/dev/null | head -1))${BASELINE:+; old: $BASELINE ($("$BASELINE" version 2>/dev/null | head -1))}"
echo "   HTTP/1.1: wrk -t1 -c$CONNS -d$DURATION --latency; HTTP/2: h2load -c10 -m10 -D ${H2DURATION%s}; $ROUNDS interleaved rounds${LOADGEN:+; pinned: proxies on CPU 1, backend and load on CPU 0}${WRK_HEADER:+; HTTP/1.1 with Connection: close (a connection per request)}"
for t in "${RUN[@]}"; do load_one h1 "$t" "$WARMUP"; done
RPS=(); CPU=(); P50=(); P99=(); ERR=() # forget the warm-up
for round in $(seq "$ROUNDS"); do
	for proto in $PROTOS; do
		d=$DURATION; [ "$proto" = h2 ] && d=$H2DURATION
		for t in "${RUN[@]}"; do load_one "$proto" "$t" "$d"; done
	done
done

# "best" is each target's lowest CPU per request over the rounds: under
# heavy load from other tenants the least-disturbed round is the closest to
# the intrinsic cost, and its ratios are printed beside the medians'.
declare -A MCPU MRPS BCPU
for proto in $PROTOS; do
	echo
	if [ "$proto" = h1 ]; then echo "== HTTP/1.1, one worker each, keep-alive upstream; median of $ROUNDS rounds =="
	else echo "== HTTP/2 (h2c prior knowledge, h2load -c10 -m10), HTTP/1.1 upstream; median of $ROUNDS rounds =="; fi
	printf '%-12s %10s %12s %10s %9s %9s   %s\n' target "req/s" "CPU µs/req" "best µs/req" "p50 ms" "p99 ms" "runs: req/s | CPU µs/req"
	for t in "${RUN[@]}"; do
		k=$proto/$t
		MRPS[$k]=$(med "${RPS[$k]}"); MCPU[$k]=$(med "${CPU[$k]}"); BCPU[$k]=$(tr ' ' '\n' <<<"${CPU[$k]}" | grep . | sort -g | head -1)
		printf '%-12s %10s %12s %10s %9s %9s   %s| %s%s\n' "$t" "${MRPS[$k]}" "${MCPU[$k]}" "${BCPU[$k]}" \
			"$(med "${P50[$k]}")" "$(med "${P99[$k]}")" \
			"${RPS[$k]}" "${CPU[$k]}" "${ERR[$k]:+  ERRORS: ${ERR[$k]}}"
	done
	echo
	cpu() { echo "${MCPU[$proto/$1]:-}"; }
	best() { echo "${BCPU[$proto/$1]:-}"; }
	rps() { echo "${MRPS[$proto/$1]:-}"; }
	overhead() { awk -v m="$1" -v s="$2" 'BEGIN { if (m != "" && s != "") printf "%+.1f %%", (m - s) / s * 100; else print "-" }'; }
	# paired A B: the median over rounds of A's CPU per request ÷ B's in
	# the same round. Rounds are interleaved, so the two figures of a pair
	# were measured seconds apart: drift of the machine over minutes cancels
	# in each quotient, which the ratio of two medians does not do.
	paired() { paste -d' ' <(tr ' ' '\n' <<<"${CPU[$proto/$1]}" | grep .) <(tr ' ' '\n' <<<"${CPU[$proto/$2]}" | grep .) |
		awk '$1 != "-" && $2 != "-" && $2 > 0 { printf "%.4f\n", $1 / $2 }' | median | awk '{ printf "%.2f", $1 }'; }
	printf '%-44s %8s %8s %9s %8s\n' "ratio ($proto)" "CPU/req" "req/s" "best CPU" "paired"
	for pair in sluice:nginx sluice+c:nginx sluice+rust:nginx sluice:haproxy sluice+c:haproxy old:nginx old+c:nginx sluice:old sluice+c:old+c; do
		a=${pair%%:*}; b=${pair#*:}
		[ -n "$(cpu "$a")" ] && [ -n "$(cpu "$b")" ] || continue
		printf '%-44s %8s %8s %9s %8s\n' "$a / $b" "$(ratio "$(cpu "$a")" "$(cpu "$b")")" "$(ratio "$(rps "$a")" "$(rps "$b")")" \
			"$(ratio "$(best "$a")" "$(best "$b")")" "$(paired "$a" "$b")"
	done
	for m in sluice+c:sluice sluice+rust:sluice old+c:old; do
		a=${m%%:*}; b=${m#*:}
		[ -n "$(cpu "$a")" ] && [ -n "$(cpu "$b")" ] || continue
		printf '%-44s %8s %18s %8s\n' "module overhead ($a − $b) / $b" "$(overhead "$(cpu "$a")" "$(cpu "$b")")" \
			"$(overhead "$(best "$a")" "$(best "$b")")" "$(overhead "$(paired "$a" "$b")" 1)"
	done
done

# Idle cost: CPU each sluice spends with no traffic (an idle worker must
# sleep, not spin).
echo
declare -A IDLE0
for t in "${RUN[@]}"; do [[ $t == sluice* || $t == old* ]] && IDLE0[$t]=$(cpu_us "${PIDOF[$t]}"); done
sleep "$IDLE"
for t in "${RUN[@]}"; do
	[ -n "${IDLE0[$t]:-}" ] || continue
	printf 'idle CPU over %s s: %-12s %s %%\n' "$IDLE" "$t" \
		"$(awk -v d=$(($(cpu_us "${PIDOF[$t]}") - IDLE0[$t])) -v s="$IDLE" 'BEGIN { printf "%.2f", d / 1e4 / s }')"
done
echo "== done: $(load_line)"
