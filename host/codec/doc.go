// Package codec defines the seam between a downstream HTTP codec (HTTP/1.1,
// HTTP/2) and the connection manager. A codec turns a connection's bytes into
// streams of headers, data and trailers, and encodes responses back; the
// connection manager runs filters over those streams without knowing the
// wire protocol. The split follows Envoy's ServerConnection / RequestDecoder /
// ResponseEncoder.
package codec
