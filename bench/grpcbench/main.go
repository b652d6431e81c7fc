// Command grpcbench is the gRPC side of bench/grpc.sh: a gRPC-style echo
// backend (h2c, application/grpc, length-prefixed messages, grpc-status in
// trailers) and a fan-out client that times N concurrent unary calls on
// one HTTP/2 connection.
//
//	grpcbench backend -addr 127.0.0.1:9000
//	grpcbench fanout -url http://127.0.0.1:9000/echo.Echo/Unary -calls 1000 -rounds 5
//	grpcbench request > req.bin     # one framed request message, for h2load -d
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"sort"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: grpcbench backend|fanout|request [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "backend":
		err = backend(os.Args[2:])
	case "fanout":
		err = fanout(os.Args[2:])
	case "request":
		_, err = os.Stdout.Write(frame([]byte("world")))
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "grpcbench:", err)
		os.Exit(1)
	}
}

func frame(msg []byte) []byte {
	b := make([]byte, 5+len(msg))
	binary.BigEndian.PutUint32(b[1:5], uint32(len(msg)))
	copy(b[5:], msg)
	return b
}

// backend serves /echo.Echo/Unary: reply "hello " + the request message.
func backend(args []string) error {
	fs := flag.NewFlagSet("backend", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:9000", "listen address")
	maxStreams := fs.Uint("max-streams", 1<<20, "SETTINGS_MAX_CONCURRENT_STREAMS")
	fs.Parse(args)
	h := func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status")
		if err != nil || len(body) < 5 {
			w.Header().Set("Grpc-Status", "13")
			return
		}
		w.Write(frame(append([]byte("hello "), body[5:]...)))
		w.Header().Set("Grpc-Status", "0")
	}
	srv := &http.Server{Addr: *addr, Handler: h2c.NewHandler(http.HandlerFunc(h), &http2.Server{MaxConcurrentStreams: uint32(*maxStreams)})}
	return srv.ListenAndServe()
}

// fanout times calls concurrent unary calls on one HTTP/2 connection, for
// rounds rounds, and prints each round and the median.
func fanout(args []string) error {
	fs := flag.NewFlagSet("fanout", flag.ExitOnError)
	url := fs.String("url", "", "call URL")
	calls := fs.Int("calls", 1000, "concurrent calls")
	rounds := fs.Int("rounds", 5, "rounds")
	fs.Parse(args)
	u, err := neturl.Parse(*url)
	if err != nil {
		return err
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		return err
	}
	// One connection: calls beyond the server's stream limit wait for a
	// slot on it, as a gRPC client's do.
	tr := &http2.Transport{AllowHTTP: true, StrictMaxConcurrentStreams: true}
	cc, err := tr.NewClientConn(conn)
	if err != nil {
		return err
	}
	defer cc.Close()
	req := frame([]byte("world"))
	call := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		r, _ := http.NewRequestWithContext(ctx, "POST", *url, bytes.NewReader(req))
		r.Header.Set("Content-Type", "application/grpc")
		r.Header.Set("Te", "trailers")
		resp, err := cc.RoundTrip(r)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if gs := resp.Trailer.Get("Grpc-Status"); gs != "0" {
			return fmt.Errorf("grpc-status %q", gs)
		}
		return nil
	}
	if err := call(); err != nil { // warm the connection (and the upstream's)
		return err
	}
	var times []time.Duration
	for round := 0; round < *rounds; round++ {
		var wg sync.WaitGroup
		errs := make(chan error, *calls)
		start := time.Now()
		for range *calls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := call(); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		d := time.Since(start)
		close(errs)
		for err := range errs {
			return err
		}
		times = append(times, d)
		fmt.Printf("round %d: %d calls in %v\n", round+1, *calls, d.Round(time.Millisecond))
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	fmt.Printf("median: %v\n", times[len(times)/2].Round(time.Millisecond))
	return nil
}
