// Package headers holds sluice's header map: an ordered list of lowercase
// names and values stored in one reusable byte arena, so a stream's headers
// cost no allocation in steady state.
//
// Requests carry the HTTP/2-style pseudo-headers :method, :path, :authority
// and :scheme; responses carry :status. Codecs translate to and from their
// wire form, so filters, the router and modules see one shape for HTTP/1.1
// and HTTP/2 alike.
//
// Lookups are linear scans (a request has a dozen headers), skipped
// entirely when a 64-bit filter of the names added says the name is absent
// — the common case for the hop-by-hop and edge headers the proxy checks on
// every request.
package headers
