package tlscontext

import (
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// settle is how long a burst of file events must be quiet before the
// contexts are reloaded: a rotation usually writes the certificate and
// the key one after the other, and the pair only matches at the end.
const settle = 100 * time.Millisecond

// Watcher reloads contexts when their files change. It watches the
// directories that hold them (so a file replaced by rename, or a symlink
// swapped as Kubernetes does for secrets, is seen too) and, once events
// settle, re-reads every affected context; a context whose new files do
// not load keeps its current config, and the failure is logged and counted.
type Watcher struct {
	log   *zap.Logger
	fw    *fsnotify.Watcher
	byDir map[string][]*Context
	done  chan struct{}
	wg    sync.WaitGroup

	reloads  atomic.Uint64
	failures atomic.Uint64
}

// Watch starts watching the files of ctxs. Close stops it.
func Watch(log *zap.Logger, ctxs []*Context) (*Watcher, error) {
	w := &Watcher{log: log, byDir: map[string][]*Context{}, done: make(chan struct{})}
	for _, c := range ctxs {
		seen := map[string]bool{}
		for _, f := range c.files {
			dir := filepath.Dir(f)
			if !seen[dir] {
				seen[dir] = true
				w.byDir[dir] = append(w.byDir[dir], c)
			}
		}
	}
	if len(w.byDir) == 0 {
		return w, nil
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	for dir := range w.byDir {
		if err := fw.Add(dir); err != nil {
			fw.Close()
			return nil, err
		}
	}
	w.fw = fw
	w.wg.Add(1)
	go w.run()
	return w, nil
}

// Reloads counts configs swapped in; Failures reloads that kept the old
// config because the new files did not load.
func (w *Watcher) Reloads() uint64  { return w.reloads.Load() }
func (w *Watcher) Failures() uint64 { return w.failures.Load() }

// Close stops watching. Idempotent.
func (w *Watcher) Close() {
	if w.fw == nil {
		return
	}
	select {
	case <-w.done:
		return
	default:
	}
	close(w.done)
	w.fw.Close()
	w.wg.Wait()
}

func (w *Watcher) run() {
	defer w.wg.Done()
	pending := map[*Context]bool{}
	var fire <-chan time.Time
	var timer *time.Timer
	for {
		select {
		case <-w.done:
			if timer != nil {
				timer.Stop()
			}
			return
		case ev, ok := <-w.fw.Events:
			if !ok {
				return
			}
			for _, c := range w.byDir[filepath.Dir(ev.Name)] {
				pending[c] = true
			}
			if len(pending) == 0 {
				continue
			}
			if timer == nil {
				timer = time.NewTimer(settle)
			} else {
				timer.Reset(settle)
			}
			fire = timer.C
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			w.log.Warn("watching TLS files", zap.Error(err))
		case <-fire:
			fire = nil
			for c := range pending {
				w.reload(c)
				delete(pending, c)
			}
		}
	}
}

func (w *Watcher) reload(c *Context) {
	changed, err := c.Reload()
	switch {
	case err != nil:
		w.failures.Add(1)
		w.log.Warn("TLS files changed but do not load; keeping the current certificates",
			zap.String("context", c.Name()), zap.Error(err))
	case changed:
		w.reloads.Add(1)
		w.log.Info("TLS files reloaded", zap.String("context", c.Name()))
	}
}
