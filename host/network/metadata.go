package network

import (
	"sort"
	"strconv"

	"github.com/sluiceproxy/sluice/host/accesslog"
)

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

// AppendMetadataJSON renders metadata as a JSON object (namespaces and keys
// sorted; {} when empty) for access logs.
func AppendMetadataJSON(b []byte, md map[string]map[string]MetadataValue) []byte {
	b = append(b, '{')
	for i, ns := range sortedKeys(md) {
		if i > 0 {
			b = append(b, ',')
		}
		b = accesslog.AppendJSONString(b, ns)
		b = append(b, ":{"...)
		for j, k := range sortedKeys(md[ns]) {
			if j > 0 {
				b = append(b, ',')
			}
			b = accesslog.AppendJSONString(b, k)
			b = append(b, ':')
			if v := md[ns][k]; v.IsNumber {
				b = strconv.AppendFloat(b, v.Num, 'g', -1, 64)
			} else {
				b = accesslog.AppendJSONString(b, v.Str)
			}
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
