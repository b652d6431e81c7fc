package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestLocate(t *testing.T) {
	doc := `# comment
---
top: 1
"quoted key": x
list:
- a
- name: first   # comment: with colon
  body: |
    not: a key
    - not an item

  after: 2
-
  name: second
- - nested
  - key: v
map:
  flow: { a: 1, b: [1, 2] }
  folded: >-
    text: here
  k2: 'v: 1'
  'single': 1
other:
  - x
`
	got := locate([]byte(doc))
	want := map[string]int{
		"top":            3,
		"quoted key":     4,
		"list":           5,
		"list[0]":        6,
		"list[1]":        7,
		"list[1].name":   7,
		"list[1].body":   8,
		"list[1].after":  12,
		"list[2]":        13,
		"list[2].name":   14,
		"list[3]":        15,
		"list[3][0]":     15,
		"list[3][1]":     16,
		"list[3][1].key": 16,
		"map":            17,
		"map.flow":       18,
		"map.folded":     19,
		"map.k2":         21,
		"map.single":     22,
		"other":          23,
		"other[0]":       24,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("locate:\n got %v\nwant %v", got, want)
	}
}

// Errors follow the file even when keys are not in schema order.
func TestErrorsInFileOrder(t *testing.T) {
	yaml := strings.Replace(minimalYAML, "clusters:\n- name: backend\n", "clusters:\n- conect_timeout: 1s\n  lb_policy: x\n  name: backend\n", 1)
	yaml = strings.Replace(yaml, "listeners:\n", "clusters_typo: 1\nlog: { level: x }\nlisteners:\n", 1)
	yaml = strings.Replace(yaml, "  address: 127.0.0.1:0\n", "  filter_chains_typo: 1\n  address: bad\n", 1)
	checkErrors(t, yaml, []string{
		"clusters_typo: unknown field",
		`log.level: invalid value "x": want debug|info|warn|error`,
		"listeners[0].filter_chains_typo: unknown field",
		`listeners[0].address: invalid address "bad": want IP:port (no DNS names)`,
		"clusters[0].conect_timeout: unknown field",
		`clusters[0].lb_policy: invalid value "x": want round_robin|random|least_request|ring_hash|maglev`,
	})
}
