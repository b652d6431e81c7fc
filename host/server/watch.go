package server

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// watchSettle is how long the config file must stay unchanged after an
// event before a watch reload: editors and `kubectl apply` write in
// several steps (truncate and write, rename, a symlink swap).
const watchSettle = 250 * time.Millisecond

// WatchConfig reloads the config at path when its content changes and the
// configuration being served says watch: true (so a reload can turn the
// watch on or off). The directory is watched, not the file, so a file
// replaced by rename or a Kubernetes ConfigMap's symlink swap is seen;
// events on other files of the directory are ignored.
// Stop ends the watch. Main goroutine, after Start.
func (s *Server) WatchConfig(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching %s: %w", path, err)
	}
	if err := w.Add(filepath.Dir(abs)); err != nil {
		w.Close()
		return fmt.Errorf("watching %s: %w", filepath.Dir(abs), err)
	}
	base := filepath.Base(abs)
	last, _ := os.ReadFile(abs)
	s.retirers.Add(1)
	go func() {
		defer s.retirers.Done()
		defer w.Close()
		settle := time.NewTimer(time.Hour)
		settle.Stop()
		defer settle.Stop()
		for {
			select {
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				// Other files in the directory (an access log) change
				// all the time; "..data" is the symlink a Kubernetes
				// ConfigMap volume swaps.
				if name := filepath.Base(ev.Name); name == base || name == "..data" {
					settle.Reset(watchSettle)
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				s.log.Warn("config file watch error", zap.String("path", abs), zap.Error(err))
			case <-settle.C:
				if !s.Config().Watch {
					continue
				}
				data, err := os.ReadFile(abs)
				if err != nil || bytes.Equal(data, last) {
					continue // gone for a moment (a rename), or only touched
				}
				last = data
				s.log.Info("config file changed; reloading", zap.String("path", abs))
				s.Reload(path) // logs and counts its outcome
			case <-s.quit:
				return
			}
		}
	}()
	return nil
}
