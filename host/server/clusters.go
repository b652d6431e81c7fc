package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"time"

	"github.com/sluiceproxy/sluice/host/cluster"
)

// The admin /clusters endpoint, in Envoy's text format
// (cluster::host::stat::value lines) or, with ?format=json, Envoy's
// cluster_statuses shape. sluice adds its own fields: outlier detection
// and health-check state per host, and the cluster's discovery type and
// load balancer.

func (s *Server) serveClusters(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("format") == "json" {
		w.Header().Set("content-type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(clustersJSON(s.gen().clusters.Clusters()))
		return
	}
	w.Header().Set("content-type", "text/plain; charset=utf-8")
	for _, c := range s.gen().clusters.Clusters() {
		writeClusterText(w, c)
	}
}

func writeClusterText(w io.Writer, c *cluster.Cluster) {
	n := c.Name()
	st := c.Settings()
	fmt.Fprintf(w, "%s::observability_name::%s\n", n, n)
	fmt.Fprintf(w, "%s::type::%s\n", n, st.Discovery)
	fmt.Fprintf(w, "%s::lb_policy::%s\n", n, st.LBPolicy)
	fmt.Fprintf(w, "%s::default_priority::max_connections::%d\n", n, st.MaxConnections)
	fmt.Fprintf(w, "%s::default_priority::max_pending_requests::%d\n", n, st.MaxPendingRequests)
	fmt.Fprintf(w, "%s::default_priority::max_retries::%d\n", n, st.MaxRetries)
	if b := st.RetryBudget; b != nil {
		fmt.Fprintf(w, "%s::default_priority::retry_budget::budget_percent::%g\n", n, b.BudgetPercent)
		fmt.Fprintf(w, "%s::default_priority::retry_budget::min_retry_concurrency::%d\n", n, b.MinRetryConcurrency)
	}
	fmt.Fprintf(w, "%s::healthy_panic_threshold::%g\n", n, st.PanicThreshold)
	fmt.Fprintf(w, "%s::added_via_api::false\n", n)
	for _, h := range c.HostStatuses() {
		p := fmt.Sprintf("%s::%s::", n, h.Addr)
		hs := h.Stats
		fmt.Fprintf(w, "%scx_active::%d\n", p, hs.CxActive)
		fmt.Fprintf(w, "%scx_connect_fail::%d\n", p, hs.CxConnectFail)
		fmt.Fprintf(w, "%scx_total::%d\n", p, hs.CxTotal)
		fmt.Fprintf(w, "%srq_active::%d\n", p, hs.RqActive)
		fmt.Fprintf(w, "%srq_error::%d\n", p, hs.RqError)
		fmt.Fprintf(w, "%srq_success::%d\n", p, hs.RqSuccess)
		fmt.Fprintf(w, "%srq_timeout::%d\n", p, hs.RqTimeout)
		fmt.Fprintf(w, "%srq_total::%d\n", p, hs.RqTotal)
		fmt.Fprintf(w, "%shostname::%s\n", p, h.Hostname)
		if h.DialAddr.IsValid() {
			fmt.Fprintf(w, "%sdial_address::%s\n", p, h.DialAddr)
		}
		fmt.Fprintf(w, "%shealth_flags::%s\n", p, cluster.HealthFlagsString(h.HealthFlags))
		fmt.Fprintf(w, "%sweight::%d\n", p, h.Weight)
		fmt.Fprintf(w, "%spriority::%d\n", p, h.Priority)
		if st.Outlier != nil {
			o := h.Outlier
			fmt.Fprintf(w, "%soutlier::ejected::%t\n", p, o.Ejected)
			fmt.Fprintf(w, "%soutlier::times_ejected::%d\n", p, o.TimesEjected)
			if o.TimesEjected > 0 {
				fmt.Fprintf(w, "%soutlier::last_ejection_reason::%s\n", p, o.Reason)
				fmt.Fprintf(w, "%soutlier::last_ejection_for_ms::%d\n", p, o.EjectedFor.Milliseconds())
			}
			fmt.Fprintf(w, "%soutlier::consecutive_5xx::%d\n", p, o.Consecutive5xx)
			fmt.Fprintf(w, "%soutlier::consecutive_gateway_failure::%d\n", p, o.ConsecutiveGw)
			fmt.Fprintf(w, "%soutlier::consecutive_local_origin_failure::%d\n", p, o.ConsecutiveLocal)
		}
		if hc := h.HealthCheck; hc.Checked {
			fmt.Fprintf(w, "%shealth_check::consecutive_successes::%d\n", p, hc.Successes)
			fmt.Fprintf(w, "%shealth_check::consecutive_failures::%d\n", p, hc.Failures)
			if hc.LastFailure != "" {
				fmt.Fprintf(w, "%shealth_check::last_failure::%s\n", p, hc.LastFailure)
			}
		}
	}
}

// JSON shapes, after Envoy's admin ClusterStatuses.
type clusterStatusesJSON struct {
	ClusterStatuses []clusterStatusJSON `json:"cluster_statuses"`
}

type clusterStatusJSON struct {
	Name           string           `json:"name"`
	Type           string           `json:"type"`
	LbPolicy       string           `json:"lb_policy"`
	AddedViaAPI    bool             `json:"added_via_api"`
	PanicThreshold float64          `json:"healthy_panic_threshold"`
	HostStatuses   []hostStatusJSON `json:"host_statuses"`
}

type socketAddressJSON struct {
	Address   string `json:"address"`
	PortValue uint16 `json:"port_value"`
}

type addressJSON struct {
	SocketAddress socketAddressJSON `json:"socket_address"`
}

type statJSON struct {
	Name  string `json:"name"`
	Value int64  `json:"value"`
	Type  string `json:"type,omitempty"`
}

type healthStatusJSON struct {
	EDSHealthStatus          string `json:"eds_health_status"`
	FailedActiveHealthCheck  bool   `json:"failed_active_health_check,omitempty"`
	FailedOutlierCheck       bool   `json:"failed_outlier_check,omitempty"`
	PendingActiveHealthCheck bool   `json:"pending_active_hc,omitempty"`
}

type outlierJSON struct {
	Ejected                       bool   `json:"ejected"`
	TimesEjected                  uint64 `json:"times_ejected"`
	LastEjectionReason            string `json:"last_ejection_reason,omitempty"`
	LastEjectionStart             string `json:"last_ejection_start,omitempty"`
	LastEjectionMS                int64  `json:"last_ejection_ms,omitempty"`
	Consecutive5xx                uint32 `json:"consecutive_5xx"`
	ConsecutiveGatewayFailure     uint32 `json:"consecutive_gateway_failure"`
	ConsecutiveLocalOriginFailure uint32 `json:"consecutive_local_origin_failure"`
}

type healthCheckJSON struct {
	ConsecutiveSuccesses uint32 `json:"consecutive_successes"`
	ConsecutiveFailures  uint32 `json:"consecutive_failures"`
	LastFailure          string `json:"last_failure,omitempty"`
}

type hostStatusJSON struct {
	Address      addressJSON      `json:"address"`
	DialAddress  *addressJSON     `json:"dial_address,omitempty"`
	Hostname     string           `json:"hostname,omitempty"`
	Stats        []statJSON       `json:"stats"`
	HealthStatus healthStatusJSON `json:"health_status"`
	Weight       uint32           `json:"weight"`
	Priority     uint32           `json:"priority"`
	Outlier      *outlierJSON     `json:"outlier_detection,omitempty"`
	HealthCheck  *healthCheckJSON `json:"health_check,omitempty"`
}

func addrJSON(a netip.AddrPort) addressJSON {
	return addressJSON{SocketAddress: socketAddressJSON{Address: a.Addr().String(), PortValue: a.Port()}}
}

func clustersJSON(cs []*cluster.Cluster) clusterStatusesJSON {
	out := clusterStatusesJSON{ClusterStatuses: []clusterStatusJSON{}}
	for _, c := range cs {
		st := c.Settings()
		cj := clusterStatusJSON{Name: c.Name(), Type: st.Discovery.String(), LbPolicy: st.LBPolicy.String(),
			PanicThreshold: st.PanicThreshold, HostStatuses: []hostStatusJSON{}}
		for _, h := range c.HostStatuses() {
			hs := h.Stats
			hj := hostStatusJSON{
				Address:  addrJSON(h.Addr),
				Hostname: h.Hostname,
				Weight:   h.Weight,
				Priority: h.Priority,
				Stats: []statJSON{
					{"cx_active", hs.CxActive, "GAUGE"}, {"cx_connect_fail", int64(hs.CxConnectFail), ""},
					{"cx_total", int64(hs.CxTotal), ""}, {"rq_active", hs.RqActive, "GAUGE"},
					{"rq_error", int64(hs.RqError), ""}, {"rq_success", int64(hs.RqSuccess), ""},
					{"rq_timeout", int64(hs.RqTimeout), ""}, {"rq_total", int64(hs.RqTotal), ""},
				},
				HealthStatus: healthStatusJSON{
					EDSHealthStatus:          "HEALTHY",
					FailedActiveHealthCheck:  h.HealthFlags&cluster.FlagFailedActiveHC != 0,
					FailedOutlierCheck:       h.HealthFlags&cluster.FlagFailedOutlierCheck != 0,
					PendingActiveHealthCheck: h.HealthFlags&cluster.FlagPendingActiveHC != 0,
				},
			}
			if h.DialAddr.IsValid() {
				a := addrJSON(h.DialAddr)
				hj.DialAddress = &a
			}
			if st.Outlier != nil {
				o := h.Outlier
				oj := &outlierJSON{Ejected: o.Ejected, TimesEjected: o.TimesEjected, LastEjectionReason: o.Reason,
					Consecutive5xx: o.Consecutive5xx, ConsecutiveGatewayFailure: o.ConsecutiveGw, ConsecutiveLocalOriginFailure: o.ConsecutiveLocal}
				if o.TimesEjected > 0 {
					oj.LastEjectionStart = o.EjectedAt.UTC().Format(time.RFC3339Nano)
					oj.LastEjectionMS = o.EjectedFor.Milliseconds()
				}
				hj.Outlier = oj
			}
			if hc := h.HealthCheck; hc.Checked {
				hj.HealthCheck = &healthCheckJSON{ConsecutiveSuccesses: hc.Successes, ConsecutiveFailures: hc.Failures, LastFailure: hc.LastFailure}
			}
			cj.HostStatuses = append(cj.HostStatuses, hj)
		}
		out.ClusterStatuses = append(out.ClusterStatuses, cj)
	}
	return out
}
