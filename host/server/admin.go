package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/sluiceproxy/sluice/host/cluster"
	"github.com/sluiceproxy/sluice/host/overload"
)

// adminServer is the admin HTTP endpoint. It is off the data path, so it
// is ordinary net/http.
type adminServer struct {
	srv       *http.Server
	addr      netip.AddrPort
	done      chan struct{}
	closeOnce sync.Once // a hot restart closes it early
}

func startAdmin(s *Server, addr netip.AddrPort) (*adminServer, error) {
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		return nil, err
	}
	a := &adminServer{
		srv:  &http.Server{Handler: s.adminMux(), ReadHeaderTimeout: 10 * time.Second},
		addr: ln.Addr().(*net.TCPAddr).AddrPort(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(a.done)
		a.srv.Serve(ln)
	}()
	return a, nil
}

// adminMux routes every admin endpoint. Endpoints that change what the
// server does are wrapped in mutating.
func (s *Server) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("content-type", "text/plain; charset=utf-8")
		all := append(s.stats(), s.gen().filters.metricLines()...)
		sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })
		for _, st := range all {
			fmt.Fprintf(w, "%s: %d\n", st.name, st.value)
		}
	})
	mux.HandleFunc("/stats/prometheus", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("content-type", "text/plain; version=0.0.4")
		for _, st := range s.stats() {
			name := "sluice_" + strings.NewReplacer(".", "_", "-", "_").Replace(st.name)
			fmt.Fprintf(w, "# TYPE %s %s\n%s %d\n", name, st.kind, name, st.value)
		}
		s.gen().filters.writePrometheus(w)
	})
	mux.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) {
		if s.Draining() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "DRAINING")
			return
		}
		if why := s.Unhealthy(); why != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "UNHEALTHY:", why)
			return
		}
		fmt.Fprintln(w, "LIVE")
	})
	mux.HandleFunc("/config_dump", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("content-type", "application/json")
		out, err := configJSON(s)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Write(out)
	})
	mux.HandleFunc("/drain_listeners", mutating(func(w http.ResponseWriter, r *http.Request) {
		// Envoy's name. The answer waits for the drain to finish, so a
		// Kubernetes preStop hook (`sluice drain`) returns only then.
		live := s.Config() // the reloaded values, if any
		n := s.Drain(live.DrainDelay, live.DrainTimeout)
		if n > 0 {
			fmt.Fprintf(w, "drained; %d connections were closed at drain_timeout\n", n)
			return
		}
		fmt.Fprintln(w, "drained")
	}))
	mux.HandleFunc("/overload", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("content-type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(s.overload.Snapshot())
	})
	mux.HandleFunc("/clusters", s.serveClusters)
	mux.HandleFunc("/reload", mutating(s.serveReload))
	mux.HandleFunc("/modules", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("content-type", "application/json")
		json.NewEncoder(w).Encode(s.gen().filters.modulesInfo())
	})
	return mux
}

// mutating guards an admin endpoint that changes what the server does:
// POST only (405 otherwise), and only from a loopback address (403
// otherwise). The admin endpoint has no authentication, and where probes
// must reach it (a Kubernetes pod) it listens on a routable address; the
// read-only endpoints may be seen from there, but only a process on the
// same host (a preStop hook, an operator's shell) may act.
func mutating(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("allow", http.MethodPost)
			http.Error(w, "method not allowed: use POST", http.StatusMethodNotAllowed)
			return
		}
		if !fromLoopback(r) {
			http.Error(w, "forbidden: only from a loopback address", http.StatusForbidden)
			return
		}
		h(w, r)
	}
}

func fromLoopback(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

func (a *adminServer) close() {
	a.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		a.srv.Shutdown(ctx)
		<-a.done
	})
}

// configJSON renders the effective config with its YAML field names.
func configJSON(s *Server) ([]byte, error) {
	y, err := yaml.Marshal(s.Config())
	if err != nil {
		return nil, err
	}
	var tree any
	if err := yaml.Unmarshal(y, &tree); err != nil {
		return nil, err
	}
	return json.MarshalIndent(tree, "", "  ")
}

type statValue struct {
	name  string
	kind  string // counter|gauge
	value int64
}

// stats gathers every counter and gauge, sorted by name.
func (s *Server) stats() []statValue {
	var out []statValue
	g := s.gen()
	add := func(prefix string) func(name string, v int64) {
		return func(name string, v int64) {
			kind := "counter"
			if strings.HasSuffix(name, "_active") {
				kind = "gauge"
			}
			out = append(out, statValue{prefix + name, kind, v})
		}
	}
	for _, l := range g.lis {
		for _, h := range l.hcms {
			h.Stats.Each(add("http." + h.StatPrefix + "."))
		}
		for _, t := range l.tcpProxies {
			t.Stats.Each(add("tcp." + t.StatPrefix + "."))
		}
		for _, a := range l.ipAllows {
			p := "client_ip_allow." + a.prefix + "."
			out = append(out,
				statValue{p + "allowed", "counter", int64(a.cfg.Stats.Allowed.Load())},
				statValue{p + "denied", "counter", int64(a.cfg.Stats.Denied.Load())})
		}
		ls := l.Stats()
		p := "listener." + l.Name() + "."
		conns := l.Connections()
		out = append(out,
			statValue{p + "downstream_cx_active", "gauge", conns.Active()},
			statValue{p + "downstream_cx_overflow", "counter", int64(conns.Overflow())})
		out = append(out,
			statValue{p + "network_filters_timeout", "counter", int64(ls.FiltersTimeout.Load())},
			statValue{p + "network_filter_refused", "counter", int64(ls.FilterRefused.Load())},
			statValue{p + "downstream_pre_cx_timeout", "counter", int64(ls.DownstreamPreCxTimeout.Load())},
			statValue{p + "downstream_listener_filter_remote_close", "counter", int64(ls.ListenerFilterRemoteClose.Load())},
			statValue{p + "downstream_listener_filter_error", "counter", int64(ls.ListenerFilterError.Load())},
			statValue{p + "no_filter_chain_match", "counter", int64(ls.NoFilterChainMatch.Load())},
			statValue{p + "ssl.handshake", "counter", int64(ls.TLSHandshakes.Load())},
			statValue{p + "ssl.connection_error", "counter", int64(ls.TLSHandshakeErrors.Load())})
		counters := func(prefix string) func(string, uint64) {
			return func(name string, v uint64) { out = append(out, statValue{prefix + name, "counter", int64(v)}) }
		}
		if l.tlsInspector != nil {
			l.tlsInspector.Stats.Each(counters(p + "tls_inspector."))
		}
		if l.proxyProtocol != nil {
			l.proxyProtocol.Stats.Each(counters(p + "proxy_protocol."))
		}
	}
	for _, c := range g.clusters.Clusters() {
		prefix := "cluster." + c.Name() + "."
		c.Stats().Each(func(name string, v uint64) {
			kind := "counter"
			if cluster.IsGauge(name) {
				kind = "gauge"
			}
			out = append(out, statValue{prefix + name, kind, int64(v)})
		})
	}
	for _, w := range s.workers {
		ws := w.Stats()
		prefix := fmt.Sprintf("worker.%d.", ws.Index)
		out = append(out,
			statValue{prefix + "connections_open", "gauge", ws.OpenConns},
			statValue{prefix + "tx_bytes_buffered", "gauge", ws.TxBuffered},
			statValue{prefix + "closed_without_linger", "counter", int64(ws.ClosedWithoutLinger)},
			statValue{prefix + "io_uring_batches", "counter", int64(ws.RingBatches)},
			statValue{prefix + "io_uring_sends", "counter", int64(ws.RingSends)},
			statValue{prefix + "io_uring_reads", "counter", int64(ws.RingReads)},
			statValue{prefix + "io_uring_refused", "counter", int64(ws.RingRefused)})
	}
	als := s.accessLogs.Stats()
	out = append(out,
		statValue{"access_log.written", "counter", int64(als.Written)},
		statValue{"access_log.dropped", "counter", int64(als.Dropped)},
		statValue{"access_log.write_failed", "counter", int64(als.WriteFailed)})
	if s.logDropped != nil {
		out = append(out, statValue{"log.dropped", "counter", int64(s.logDropped())})
	}
	out = append(out, g.filters.stats()...)
	out = append(out, s.reloadStats()...)
	if w := s.tlsWatch.Load(); w != nil {
		out = append(out,
			statValue{"tls.context_reloads", "counter", int64(w.Reloads())},
			statValue{"tls.context_reload_failed", "counter", int64(w.Failures())})
	}
	out = append(out,
		statValue{"server.watchdog_miss", "counter", int64(s.dog.miss.Load())},
		statValue{"server.watchdog_mega_miss", "counter", int64(s.dog.megaMiss.Load())})
	out = append(out, s.overloadStats()...)
	out = append(out, statValue{"server.goroutines", "gauge", int64(runtime.NumGoroutine())})
	out = append(out, statValue{"server.uptime_seconds", "gauge", int64(time.Since(s.started).Seconds())})
	out = append(out, statValue{"server.concurrency", "gauge", int64(len(s.workers))})
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// overloadStats are the overload manager's: the heap it last read and its
// bounds, whether each action is on, how often they switched on, and the
// connections counted against global_downstream_max_connections.
func (s *Server) overloadStats() []statValue {
	snap := s.overload.Snapshot()
	b := func(v bool) int64 {
		if v {
			return 1
		}
		return 0
	}
	out := []statValue{
		{"overload.heap_bytes", "gauge", int64(snap.HeapBytes)},
		{"overload.max_heap_bytes", "gauge", int64(snap.MaxHeapBytes)},
		{"overload.release_heap_bytes", "gauge", int64(snap.ReleaseHeapBytes)},
		{"overload.activations", "counter", int64(snap.Activations)},
		{"overload.collections", "counter", int64(snap.Collections)},
		{"overload.downstream_cx_active", "gauge", snap.DownstreamCxActive},
		{"overload.global_downstream_max_connections", "gauge", int64(snap.GlobalDownstreamMaxConnections)},
		{"overload.downstream_global_cx_overflow", "counter", int64(snap.DownstreamGlobalCxOverflow)},
	}
	for _, a := range overload.Actions() {
		out = append(out, statValue{"overload." + a.String() + ".active", "gauge", b(s.overload.ActionActive(a))})
	}
	return out
}
