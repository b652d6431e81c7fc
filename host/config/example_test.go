package config_test

import (
	"fmt"

	"github.com/sluiceproxy/sluice/host/config"
)

func ExampleParse() {
	_, err := config.Parse([]byte(`
concurrency: 0
listeners:
- name: main
  address: localhost:10000
clusters:
- name: backend
  conect_timeout: 1s
`), "sluice.yaml")
	fmt.Println(err)
	// Output:
	// sluice.yaml: concurrency: must be between 1 and 256
	// sluice.yaml: listeners[0].address: invalid address "localhost:10000": want IP:port (no DNS names)
	// sluice.yaml: listeners[0].filter_chains: required (or a default_filter_chain)
	// sluice.yaml: clusters[0].conect_timeout: unknown field
	// sluice.yaml: clusters[0].load_assignment.endpoints: required
}
