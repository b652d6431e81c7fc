// Package http2 is sluice's own HTTP/2 server codec (h2 over TLS, chosen by
// ALPN, and cleartext h2c: prior knowledge and the HTTP/1.1 Upgrade; TLS is
// the worker connection's, so the codec sees plaintext either way). It runs
// on a worker's event loop: the connection manager hands Dispatch the
// connection's unconsumed input and the codec reads a frame only once the
// whole frame is buffered, so nothing ever blocks. Framing and HPACK come from golang.org/x/net/http2; the connection
// and stream state machines, flow control, SETTINGS/PING/GOAWAY/RST_STREAM
// handling, header validation (RFC 9113 8.2, 8.3) and the attack limits are
// sluice's.
//
// Driving it (what host/hcm does; http2test is a minimal example):
//
//   - pick HTTP/2 when IsPreface matches (codec_type auto) and call
//     NewServerCodec, or NewServerCodecFromUpgrade after answering an
//     HTTP/1.1 "Upgrade: h2c" with 101;
//   - on input: n, err := Dispatch(conn.Input()); conn.Consume(n); on err
//     the GOAWAY is queued: close after flushing. ReadEOF on the peer's FIN;
//   - close after flushing when WantsClose() (re-check after streams end,
//     also outside Dispatch); OnWritable when the worker says so;
//     OnConnectionClose when the connection dies;
//   - Options.OnFatal lets the codec ask for that close outside Dispatch
//     (SETTINGS timeout); a manager offering HeaderSource lends recycled
//     header maps.
//
// Decisions worth knowing:
//
//   - The manager is done with a stream once it has encoded the end of the
//     response, even if DATA still waits for the peer's window: from that
//     point the codec makes no decoder call (no OnReset, no writable
//     callback), finishes the response on its own, and checks then drops
//     any request body still arriving. The stream implements
//     codec.FlushNotifier, so the manager learns when the end of the
//     response is on the wire, or that the stream died first, and how many
//     body bytes got out (host/hcm logs the stream then, as Envoy does).
//     An upload that goes on past 64 KiB is credited until the response
//     is out and only then stopped with RST_STREAM(NO_ERROR) (RFC 9113
//     8.1): resetting earlier would destroy the rest of the response.
//
//   - Request flow control: the connection window is credited as soon as the
//     codec has taken DATA off the wire, the stream window only when the
//     body has been delivered to the stream's RequestDecoder.
//     ReadDisable(true) on a stream buffers its already-permitted bytes in
//     the codec and withholds the stream's WINDOW_UPDATE, so a paused
//     stream cannot starve its siblings, until paused streams together
//     hold a connection window's worth: then connection credit waits for
//     them to drain, which bounds what one connection can make the codec
//     hold whatever MaxConcurrentStreams is.
//
//   - Response flow control: DATA the peer's windows do not allow is queued
//     per stream; AboveWriteWatermark turns true past Options.StreamBufferLimit,
//     or, for a stream that is waiting for window, once all streams queue
//     ConnectionBufferLimit together; the writable callback runs when the
//     queues drain below half. A producer that keeps writing past the
//     watermark is reset at 4x the limit (one large write from below it is
//     accepted), so a client that never opens its window cannot grow memory.
//
//   - A request whose decoded header list exceeds MaxHeaderListSize is
//     answered 431 by the codec itself (the HPACK state stays in sync); a
//     header block that is too large on the wire, or spread over too many
//     CONTINUATION frames, ends the connection with ENHANCE_YOUR_CALM before
//     it is decoded.
//
//   - Attacks are bounded and counted in Stats: rapid reset and resets the
//     client provokes (one budget), CONTINUATION flood, HPACK bomb, floods of
//     frames we must answer (SETTINGS, PING, RST_STREAM) and of empty DATA.
package http2
