package cluster

import (
	"bytes"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/config"
)

// EDS from a file (Envoy's path_config_source): the endpoint file is read
// at start and again whenever its directory (or the configured
// watched_directory) changes, so endpoints change without a reload. A file
// that cannot be read or is invalid is logged and counted
// (update_failure, update_rejected) and the cluster keeps its endpoints.

// edsSettle lets a burst of file events (an editor's truncate and write, a
// ConfigMap's symlink swap) finish before the file is read.
const edsSettle = 50 * time.Millisecond

func (ctl *control) addEDSSource() {
	ctl.discovering++
	ctl.sources = append(ctl.sources, ctl.edsLoop)
}

func (ctl *control) edsLoop() {
	c := ctl.c
	s := &c.settings
	dir := s.EDSWatchDir
	if dir == "" {
		dir = filepath.Dir(s.EDSPath)
	}
	var events <-chan fsnotify.Event
	var errs <-chan error
	w, err := fsnotify.NewWatcher()
	if err == nil {
		if err = w.Add(dir); err != nil {
			w.Close()
		} else {
			defer w.Close()
			events, errs = w.Events, w.Errors
		}
	}
	if err != nil {
		c.log.Error("cannot watch the endpoint file's directory; endpoints are read once", zap.String("directory", dir), zap.Error(err))
	}
	var last []byte
	first := true
	load := func() {
		ctl.loadEndpointFile(&last)
		if first {
			first = false
			ctl.discovered()
		}
	}
	ctl.do(load)
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	for {
		select {
		case _, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			settle.Reset(edsSettle)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			c.log.Warn("endpoint file watch error", zap.Error(err))
		case <-settle.C:
			ctl.do(load)
		case <-ctl.stop:
			return
		}
	}
}

// loadEndpointFile reads, validates and applies the endpoint file unless
// it is what was applied last. Control goroutine.
func (ctl *control) loadEndpointFile(last *[]byte) {
	c := ctl.c
	s := &c.settings
	data, err := os.ReadFile(s.EDSPath)
	if err != nil {
		c.stats.updateAttempt.Add(1)
		c.stats.updateFailure.Add(1)
		c.log.Error("cannot read the endpoint file; keeping the current endpoints", zap.String("path", s.EDSPath), zap.Error(err))
		return
	}
	if *last != nil && bytes.Equal(data, *last) {
		return
	}
	c.stats.updateAttempt.Add(1)
	la, err := config.ParseEndpointFile(data, s.EDSPath, s.EDSService)
	if err != nil {
		c.stats.updateRejected.Add(1)
		c.log.Error("endpoint file rejected; keeping the current endpoints", zap.String("path", s.EDSPath), zap.Error(err))
		*last = data
		return
	}
	*last = data
	c.stats.updateSuccess.Add(1)
	var eps []Endpoint
	for _, g := range la.Endpoints {
		for i := range g.LbEndpoints {
			ep, err := endpointFromConfig(&g.LbEndpoints[i], g.Priority, EDS)
			if err != nil {
				continue // validated above
			}
			eps = append(eps, ep)
		}
	}
	if len(eps) == 0 {
		c.stats.updateEmpty.Add(1)
	}
	over := uint32(0)
	if p := la.Policy; p != nil {
		over = uint32(p.OverprovisioningFactor)
	}
	overChanged := over != ctl.overprovisioning
	ctl.overprovisioning = over
	if !ctl.updateMembers(eps) && overChanged {
		ctl.publish(nil) // the priorities' shares change, the hosts do not
	}
}
