package server

import (
	"errors"
	"fmt"
	"net/http"
)

// SetConfigPath names the file Reload reads for POST /reload (and SIGHUP,
// handled by the command). Empty: the server runs a built-in config and
// /reload refuses.
func (s *Server) SetConfigPath(path string) {
	s.reloadMu.Lock()
	s.configPath = path
	s.reloadMu.Unlock()
}

func (s *Server) reloadPath() string {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	return s.configPath
}

// serveReload is POST /reload: the answer waits for the reload; 200 when
// the new configuration serves, 400 with the error (file, YAML path,
// cause) when it did not load and the old one still serves, 503 while
// draining.
func (s *Server) serveReload(w http.ResponseWriter, r *http.Request) {
	path := s.reloadPath()
	if path == "" {
		http.Error(w, "reload failed: sluice runs its built-in config (started without -c); there is no file to reload", http.StatusBadRequest)
		return
	}
	err := s.Reload(path)
	switch {
	case errors.Is(err, ErrReloadRefused):
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
	case err != nil:
		http.Error(w, "reload failed: "+err.Error(), http.StatusBadRequest)
	default:
		fmt.Fprintf(w, "reloaded %s\n", path)
	}
}

// reloadStats are the config.reload_* counters for /stats.
func (s *Server) reloadStats() []statValue {
	return []statValue{
		{"config.reload_success", "counter", int64(s.reloads.success.Load())},
		{"config.reload_failure", "counter", int64(s.reloads.failure.Load())},
		{"config.last_reload_success_timestamp_seconds", "gauge", s.reloads.lastSuccess.Load()},
		{"config.generations_retiring", "gauge", s.reloads.retiring.Load()},
	}
}
