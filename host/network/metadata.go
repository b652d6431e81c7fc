package network

// MetadataValue is a dynamic-metadata value: a string or a number.
type MetadataValue struct {
	Str      string
	Num      float64
	IsNumber bool
}

// SetMetadata stores connection-level dynamic metadata under a namespace
// (by convention the filter's name). The HTTP streams of the connection and
// the access logs read it.
func (nc *Connection) SetMetadata(ns, key string, v MetadataValue) {
	if nc.metadata == nil {
		nc.metadata = make(map[string]map[string]MetadataValue)
	}
	m := nc.metadata[ns]
	if m == nil {
		m = make(map[string]MetadataValue)
		nc.metadata[ns] = m
	}
	m[key] = v
}

// GetMetadata reads connection-level dynamic metadata.
func (nc *Connection) GetMetadata(ns, key string) (MetadataValue, bool) {
	v, ok := nc.metadata[ns][key]
	return v, ok
}

// Metadata is every namespace (nil when none was set). Read only.
func (nc *Connection) Metadata() map[string]map[string]MetadataValue { return nc.metadata }
