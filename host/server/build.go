package server

import (
	"fmt"

	"github.com/sluiceproxy/sluice/host/config"
	"github.com/sluiceproxy/sluice/host/hcm"
	"github.com/sluiceproxy/sluice/host/http1"
	"github.com/sluiceproxy/sluice/host/http2"
	"github.com/sluiceproxy/sluice/host/router"
)

// buildListener compiles listener i's connection manager.
func (s *Server) buildListener(i int, lc *config.Listener) (*listener, error) {
	path := fmt.Sprintf("listeners[%d]", i)
	var hc *config.HTTPConnectionManager
	for _, fc := range lc.FilterChains {
		for _, f := range fc.Filters {
			if f.HCM != nil {
				hc = f.HCM
			}
		}
	}
	if hc == nil {
		return nil, fmt.Errorf("%s: %w", path, errNoHCM)
	}
	cfg := &hcm.Config{
		StatPrefix:                hc.StatPrefix,
		ServerName:                hc.ServerName,
		Via:                       hc.Via,
		UseRemoteAddress:          hc.UseRemoteAddress,
		XFFNumTrustedHops:         hc.XffNumTrustedHops,
		SkipXFFAppend:             hc.SkipXffAppend,
		GenerateRequestID:         hc.GenerateRequestID,
		PreserveExternalRequestID: hc.PreserveExternalRequestID,
		IdleTimeout:               hc.IdleTimeout,
		RequestHeadersTimeout:     hc.RequestHeadersTimeout,
		StreamIdleTimeout:         hc.StreamIdleTimeout,
		RequestTimeout:            hc.RequestTimeout,
		BufferLimit:               hc.StreamBufferLimitBytes,
		ConnBufferLimit:           lc.PerConnectionBufferLimitBytes,
		Clusters:                  s.clusters,
		Log:                       s.log.With(),
		Stats:                     &hcm.Stats{},
	}
	for _, u := range hc.UpgradeConfigs {
		cfg.Upgrades = append(cfg.Upgrades, hcm.UpgradeSetting{Type: u.UpgradeType, Enabled: u.Enabled})
	}
	switch hc.CodecType {
	case "http1":
		cfg.Codec = hcm.CodecHTTP1
	case "http2":
		cfg.Codec = hcm.CodecHTTP2
	default:
		cfg.Codec = hcm.CodecAuto
	}
	lim := http1.DefaultLimits()
	if hc.MaxRequestHeadersKB > 0 {
		lim.MaxHeaderBytes = hc.MaxRequestHeadersKB * 1024
	}
	if hc.MaxHeadersCount > 0 {
		lim.MaxHeaders = hc.MaxHeadersCount
	}
	if hc.MaxRequestLineBytes > 0 {
		lim.MaxRequestLineBytes = hc.MaxRequestLineBytes
	}
	cfg.Limits = lim
	h2opts := http2.Options{MaxHeaderListSize: uint32(lim.MaxHeaderBytes), StreamBufferLimit: hc.StreamBufferLimitBytes}
	if cfg.Codec != hcm.CodecHTTP1 {
		cfg.NewHTTP2 = newHTTP2Factory(s.log, h2opts)
		cfg.UpgradeHTTP2 = newHTTP2UpgradeFactory(s.log, h2opts)
	}

	hcmPath := path + ".filter_chains[0].filters[0].config"
	byName := map[string]hcm.FilterFactory{}
	for j, f := range hc.HTTPFilters {
		if f.Name == config.RouterFilterName && !f.IsModule() {
			continue
		}
		ff, err := s.filters.build(fmt.Sprintf("%s.http_filters[%d]", hcmPath, j), &f)
		if err != nil {
			return nil, err
		}
		cfg.Filters = append(cfg.Filters, hcm.NamedFilter{Name: f.Name, Factory: ff})
		byName[f.Name] = ff
	}
	table, err := router.Compile(&hc.RouteConfig, func(filter string, raw []byte) (any, error) {
		return s.filters.perRoute(byName[filter], raw)
	})
	if err != nil {
		return nil, fmt.Errorf("%s.route_config: %w", hcmPath, err)
	}
	cfg.Routes = table
	s.filters.trackRoutes(table)
	for j, al := range hc.AccessLog {
		format := hcm.AccessLogText
		if al.Format == "json" {
			format = hcm.AccessLogJSON
		}
		sink, err := s.accessLogs.Open(al.Path)
		if err != nil {
			return nil, fmt.Errorf("%s.access_log[%d].path: %w", hcmPath, j, err)
		}
		cfg.AccessLogs = append(cfg.AccessLogs, &hcm.AccessLog{Sink: sink, Format: format})
	}
	return &listener{index: i, name: lc.Name, addr: lc.Addr, hcm: cfg}, nil
}
