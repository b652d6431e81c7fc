package http1

import "github.com/sluiceproxy/sluice/host/headers"

// mapForTest embeds the header map so tests read like the proxy's code.
type mapForTest struct{ headers.Map }
