package module

import "fmt"

// LoadError is a module that could not be loaded: one message naming the
// file and the cause.
type LoadError struct {
	Path  string
	Cause string
}

func (e *LoadError) Error() string { return fmt.Sprintf("load module %q: %s", e.Path, e.Cause) }

func loadErr(path, format string, args ...any) *LoadError {
	return &LoadError{Path: path, Cause: fmt.Sprintf(format, args...)}
}

// ConfigError is a filter config the module (or the host) refused.
type ConfigError struct {
	Path       string
	FilterName string
	Cause      string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("module %q, filter %q: %s", e.Path, e.FilterName, e.Cause)
}
