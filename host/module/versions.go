package module

import (
	"go.uber.org/zap"
)

// Instance describes one loaded module version for the admin /modules
// endpoint.
type Instance struct {
	Module *Module
	Path   string
	Hash   string // SHA-256 of the file's content, hex
	ABI    uint32
	// Configs are the version's filter configs not yet destroyed;
	// LiveFilters the HTTP and network filters they still have.
	Configs, LiveFilters int
}

// Instances lists the loaded module versions. Any goroutine.
func (h *Host) Instances() []Instance {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Instance, 0, len(h.modules))
	for _, m := range h.modules {
		in := Instance{Module: m, Path: m.lib.path, Hash: m.lib.key.String(), ABI: m.lib.version, Configs: len(m.open)}
		for f := range m.open {
			in.LiveFilters += int(f.live.Load())
		}
		out = append(out, in)
	}
	return out
}

// ReleaseUnused unloads every module version none of whose filter configs
// is left (each was closed, and its last filter destroyed): the module is
// told with sluice_on_program_shutdown (on the control thread) when no
// other host uses it, and is forgotten by this host, so loading the same
// content again initialises it again. A server calls it when a retired
// configuration generation released its filter configs. It returns how
// many versions it unloaded. Main goroutine.
func (h *Host) ReleaseUnused() int {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return 0
	}
	var gone []*Module
	for key, m := range h.modules {
		if len(m.open) == 0 {
			gone = append(gone, m)
			delete(h.modules, key)
		}
	}
	h.mu.Unlock()
	for _, m := range gone {
		m.lib.release(h.ctl)
		h.unloaded.Add(1)
		h.log.Info("module version unloaded", zap.String("path", m.lib.path), zap.String("sha256", m.lib.key.String()))
	}
	return len(gone)
}
