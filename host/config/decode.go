package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"time"
)

var (
	durationType = reflect.TypeFor[time.Duration]()
	bytesType    = reflect.TypeFor[RawJSON]()
	defaulterT   = reflect.TypeFor[defaulter]()
)

// fieldSkipper lets a struct leave a known key undecoded, depending on
// fields decoded before it (fields are decoded in declaration order).
type fieldSkipper interface{ skipField(key, field string) bool }

// scalarDecoder is a struct that may also be written as a string (a CIDR
// range as "10.0.0.0/8" or as Envoy's {address_prefix, prefix_len}).
type scalarDecoder interface{ decodeScalar(s string) error }

// decoder fills Go structs from the generic tree viper's YAML codec produced.
// Struct fields are named by their `yaml` tag; `yaml:"-"` fields are derived
// and never read from the file.
type decoder struct{ p *problems }

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// kindName names a YAML value's type for error messages.
func kindName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "bool"
	case int, int64, uint64, uint, int32:
		return "integer"
	case float64, float32:
		return "float"
	case map[string]any:
		return "map"
	case []any:
		return "list"
	case time.Time:
		return "timestamp"
	}
	return fmt.Sprintf("%T", v)
}

// setDefaults applies defaults to v and to every nested struct that is
// stored by value (pointers and list elements get theirs when created).
func setDefaults(v reflect.Value) {
	if v.Kind() != reflect.Struct {
		return
	}
	if v.Addr().Type().Implements(defaulterT) {
		v.Addr().Interface().(defaulter).applyDefaults()
	}
	for i := 0; i < v.NumField(); i++ {
		if v.Type().Field(i).IsExported() {
			setDefaults(v.Field(i))
		}
	}
}

// value decodes in (from YAML) into out. A YAML null leaves out as it is,
// so `admin:` with no value means "not set".
func (d *decoder) value(path string, in any, out reflect.Value) {
	if in == nil {
		return
	}
	t := out.Type()
	switch {
	case t == durationType:
		d.duration(path, in, out)
		return
	case t == bytesType:
		d.opaque(path, in, out)
		return
	}
	if s, ok := in.(string); ok && t.Kind() == reflect.Struct {
		if sd, ok := out.Addr().Interface().(scalarDecoder); ok {
			if err := sd.decodeScalar(s); err != nil {
				d.p.add(path, err.Error())
			}
			return
		}
	}
	switch t.Kind() {
	case reflect.String:
		s, ok := in.(string)
		if !ok {
			d.p.add(path, "expected string, got "+kindName(in))
			return
		}
		out.SetString(s)
	case reflect.Bool:
		b, ok := in.(bool)
		if !ok {
			d.p.add(path, "expected bool, got "+kindName(in))
			return
		}
		out.SetBool(b)
	case reflect.Int:
		n, ok := toInt64(in)
		if !ok {
			d.p.add(path, "expected integer, got "+kindName(in))
			return
		}
		if out.OverflowInt(n) {
			d.p.add(path, "integer out of range")
			return
		}
		out.SetInt(n)
	case reflect.Float64:
		switch f := in.(type) {
		case float64:
			out.SetFloat(f)
		default:
			n, ok := toInt64(in)
			if !ok {
				d.p.add(path, "expected number, got "+kindName(in))
				return
			}
			out.SetFloat(float64(n))
		}
	case reflect.Pointer:
		// Set even when the value is bad, so validation sees the section as
		// present and does not add "required"-style noise to the type error.
		fresh := reflect.New(t.Elem())
		setDefaults(fresh.Elem())
		d.value(path, in, fresh.Elem())
		out.Set(fresh)
	case reflect.Struct:
		d.structure(path, in, out)
	case reflect.Slice:
		d.list(path, in, out)
	case reflect.Map:
		d.mapping(path, in, out)
	default:
		panic("config: unsupported field type " + t.String())
	}
}

func toInt64(in any) (int64, bool) {
	switch n := in.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case int32:
		return int64(n), true
	case uint64:
		if n > 1<<63-1 {
			return 0, false
		}
		return int64(n), true
	case uint:
		return int64(n), true
	}
	return 0, false
}

func (d *decoder) duration(path string, in any, out reflect.Value) {
	switch v := in.(type) {
	case string:
		dur, err := time.ParseDuration(v)
		if err != nil {
			d.p.add(path, fmt.Sprintf("invalid duration %q (want e.g. \"5s\", \"250ms\")", v))
			return
		}
		out.SetInt(int64(dur))
		return
	default:
		// A bare 0 is unambiguous; any other number lacks a unit.
		if n, ok := toInt64(in); ok && n == 0 {
			out.SetInt(0)
			return
		}
	}
	d.p.add(path, "expected a duration string like \"5s\", got "+kindName(in))
}

// opaque stores a module's config verbatim as JSON.
func (d *decoder) opaque(path string, in any, out reflect.Value) {
	b, err := json.Marshal(in)
	if err != nil {
		d.p.add(path, "cannot encode as JSON: "+err.Error())
		return
	}
	out.SetBytes(b)
}

func (d *decoder) structure(path string, in any, out reflect.Value) {
	m, ok := in.(map[string]any)
	if !ok {
		d.p.add(path, "expected map, got "+kindName(in))
		return
	}
	t := out.Type()
	known := make(map[string]bool, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		key := t.Field(i).Tag.Get("yaml")
		if key == "" || key == "-" {
			continue
		}
		known[key] = true
		fp := join(path, key)
		d.p.visit(fp)
		if skip, ok := out.Addr().Interface().(fieldSkipper); ok && skip.skipField(key, t.Field(i).Name) {
			continue
		}
		if v, present := m[key]; present {
			d.value(fp, v, out.Field(i))
		}
	}
	var unknown []string
	for k := range m {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		fp := join(path, k)
		d.p.visit(fp)
		d.p.add(fp, "unknown field")
	}
}

func (d *decoder) list(path string, in any, out reflect.Value) {
	items, ok := in.([]any)
	if !ok {
		d.p.add(path, "expected list, got "+kindName(in))
		return
	}
	s := reflect.MakeSlice(out.Type(), len(items), len(items))
	for i, item := range items {
		ip := index(path, i)
		d.p.visit(ip)
		setDefaults(s.Index(i))
		d.value(ip, item, s.Index(i))
	}
	out.Set(s)
}

// mapping decodes maps with string keys (typed_per_filter_config). Keys
// keep their case: they are filter names.
func (d *decoder) mapping(path string, in any, out reflect.Value) {
	m, ok := in.(map[string]any)
	if !ok {
		d.p.add(path, "expected map, got "+kindName(in))
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	mv := reflect.MakeMapWithSize(out.Type(), len(m))
	for _, k := range keys {
		kp := join(path, k)
		d.p.visit(kp)
		ev := reflect.New(out.Type().Elem()).Elem()
		d.value(kp, m[k], ev)
		mv.SetMapIndex(reflect.ValueOf(k), ev)
	}
	out.Set(mv)
}

// normalize turns the YAML tree into one json.Marshal accepts and that has
// only map[string]any maps: YAML allows non-string keys (`1: x`), which
// become their string form.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}
