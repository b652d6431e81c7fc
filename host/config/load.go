package config

import (
	"bytes"
	_ "embed"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"

	"github.com/spf13/viper"
)

// DefaultYAML is the built-in config `sluice run` uses without -c.
//
//go:embed default.yaml
var DefaultYAML []byte

// Load reads and validates the config file at path. Relative module paths
// are resolved against the file's directory. Any error is an *Errors whose
// lines start with path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		msg := err.Error()
		var pe *os.PathError
		if errors.As(err, &pe) {
			msg = pe.Err.Error()
		}
		return nil, &Errors{Source: path, List: []Error{{Msg: "cannot read: " + msg}}}
	}
	return Parse(data, path)
}

// Parse decodes and validates YAML. source names the data in errors; when it
// is a file path, relative module paths are resolved against its directory.
// Any error is an *Errors listing every problem in file order.
func Parse(data []byte, source string) (*Config, error) {
	tree, err := readYAML(data)
	if err != nil {
		return nil, &Errors{Source: source, List: yamlErrors(err)}
	}
	p := newProblems()
	p.setLines(locate(data))
	cfg := new(Config)
	setDefaults(reflect.ValueOf(cfg).Elem())
	(&decoder{p: p}).value("", tree, reflect.ValueOf(cfg).Elem())

	decodeErrs := len(p.list)
	bad := make([]string, decodeErrs)
	for i, e := range p.list {
		bad[i] = e.Path
	}
	v := &validator{p: p, bad: bad, dir: filepath.Dir(source)}
	if source == "" {
		v.dir = ""
	}
	v.config(cfg)
	if len(p.list) > 0 {
		return nil, &Errors{Source: source, List: p.sorted()}
	}
	return cfg, nil
}

// yamlErrors turns a YAML error into one Error per line: the YAML library
// reports several unmarshal errors in one multi-line message.
func yamlErrors(err error) []Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n")
	var out []Error
	for _, line := range strings.Split(msg, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "yaml: ") {
			line = "yaml: " + line
		}
		line = notAMap.ReplaceAllString(line, "the document must be a map, got !!$1")
		out = append(out, Error{Msg: line})
	}
	return out
}

var notAMap = regexp.MustCompile(`cannot unmarshal !!(\w+) into map\[string\]interface \{\}`)

// readYAML parses data with viper and returns the tree with map keys in
// their original case (see caseKeeping).
func readYAML(data []byte) (map[string]any, error) {
	keep := &caseKeeping{inner: viper.NewCodecRegistry()}
	v := viper.NewWithOptions(viper.WithDecoderRegistry(keep))
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		// viper prefixes "While parsing config: "; the YAML error says enough.
		var pe viper.ConfigParseError
		if errors.As(err, &pe) && pe.Unwrap() != nil {
			err = pe.Unwrap()
		}
		return nil, errors.New(strings.TrimSpace(err.Error()))
	}
	if keep.tree == nil {
		return map[string]any{}, nil
	}
	return keep.tree, nil
}

// caseKeeping wraps viper's YAML decoder to keep a copy of the tree before
// viper lowercases every key in place.
type caseKeeping struct {
	inner viper.DecoderRegistry
	tree  map[string]any
}

func (c *caseKeeping) Decoder(format string) (viper.Decoder, error) {
	d, err := c.inner.Decoder(format)
	if err != nil {
		return nil, err
	}
	return decodeFunc(func(b []byte, m map[string]any) error {
		if err := d.Decode(b, m); err != nil {
			return err
		}
		c.tree = normalize(m).(map[string]any)
		return nil
	}), nil
}

type decodeFunc func(b []byte, m map[string]any) error

func (f decodeFunc) Decode(b []byte, m map[string]any) error { return f(b, m) }
