// Command tlsbench measures full TLS handshakes for bench/tls.sh: C clients
// each open a fresh TLS connection (no session cache, so no resumption),
// send one HTTP/1.1 request with "Connection: close", read the answer to
// EOF, and start over, for D.
//
//	tlsbench -addr 127.0.0.1:8443 -c 50 -d 10s
//	    prints "handshakes seconds errors"
//
// The server's certificate is not verified (the benchmark certificate is
// self-signed); its handshake signature still is, as always in TLS.
package main

import (
	"bufio"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "", "server address host:port")
	conc := flag.Int("c", 50, "concurrent clients")
	dur := flag.Duration("d", 10*time.Second, "duration")
	tls12 := flag.Bool("tls12", false, "offer TLS 1.2 only")
	flag.Parse()
	if *addr == "" {
		fmt.Fprintln(os.Stderr, "tlsbench: -addr is required")
		os.Exit(2)
	}
	cfg := &tls.Config{
		InsecureSkipVerify: true,
		ServerName:         "localhost",
		CurvePreferences:   []tls.CurveID{tls.X25519}, // what OpenSSL 3.0 clients offer
		NextProtos:         []string{"http/1.1"},
	}
	if *tls12 {
		cfg.MaxVersion = tls.VersionTLS12
	}
	req := []byte("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
	var done, failed atomic.Int64
	stop := time.Now().Add(*dur)
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < *conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := bufio.NewReader(nil)
			for time.Now().Before(stop) {
				if err := once(*addr, cfg, req, br); err != nil {
					failed.Add(1)
					continue
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	fmt.Printf("%d %.3f %d\n", done.Load(), time.Since(start).Seconds(), failed.Load())
}

func once(addr string, cfg *tls.Config, req []byte, br *bufio.Reader) error {
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(raw, cfg)
	if _, err := tc.Write(req); err != nil {
		return err
	}
	br.Reset(tc)
	line, err := br.ReadString('\n')
	if err != nil {
		return err
	}
	if len(line) < 12 || line[9:12] != "200" {
		return fmt.Errorf("status line %q", line)
	}
	_, err = io.Copy(io.Discard, br)
	return err
}
