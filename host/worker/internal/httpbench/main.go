// Command httpbench is the loopback micro-server behind the measurements in
// host/worker/RATIONALE.md: a minimal keep-alive HTTP/1.1 responder on the
// worker API, and the same response from net/http, to compare under wrk.
//
//	go run ./host/worker/internal/httpbench -mode worker -workers 1 -addr 127.0.0.1:0
//	wrk -t1 -c50 -d10s http://ADDR/   (ADDR: the "listening on" line)
//
// With -cert and -key (PEM files) both modes serve HTTPS instead: the
// worker through StartTLS, net/http through crypto/tls.
package main

import (
	"bytes"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/sluiceproxy/sluice/host/worker"
)

var response = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")

func main() {
	mode := flag.String("mode", "worker", "worker | memtls (worker, TLS over in-memory conns; needs -cert) | nethttp")
	addr := flag.String("addr", "127.0.0.1:0", "listen address (port 0: pick a free one)")
	workers := flag.Int("workers", 1, "event-loop workers (mode worker)")
	certFile := flag.String("cert", "", "certificate chain (PEM): serve HTTPS")
	keyFile := flag.String("key", "", "private key (PEM)")
	flag.Parse()
	var tlsCfg *tls.Config
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
	}
	var err error
	switch *mode {
	case "worker":
		err = serveWorkers(*addr, *workers, tlsCfg, false)
	case "memtls":
		err = serveWorkers(*addr, *workers, tlsCfg, true)
	case "nethttp":
		var ln net.Listener
		if ln, err = net.Listen("tcp", *addr); err != nil {
			break
		}
		if tlsCfg != nil {
			ln = tls.NewListener(ln, tlsCfg)
		}
		fmt.Fprintf(os.Stderr, "net/http, GOMAXPROCS=%d, listening on %s\n", runtime.GOMAXPROCS(0), ln.Addr())
		err = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte("ok"))
		}))
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// responder answers every complete request head in the input (pipelining
// included) with the canned response, and closes after one that asked
// for "Connection: close". GET only: no bodies.
type responder struct{}

func (responder) OnConnect(*worker.Conn, error) {}
func (responder) OnWritable(c *worker.Conn)     { c.ResumeReading() }
func (responder) OnClose(*worker.Conn, error)   {}
func (responder) OnData(c *worker.Conn) {
	for {
		in := c.Input()
		end := bytes.Index(in, []byte("\r\n\r\n"))
		if end < 0 {
			break
		}
		c.Write(response)
		if bytes.Contains(in[:end], []byte("Connection: close")) {
			c.CloseAfterFlush()
			return
		}
		c.Consume(end + 4)
	}
	if c.ReadEOF() {
		c.CloseAfterFlush()
	} else if c.AboveHighWatermark() {
		c.PauseReading()
	}
}

func serveWorkers(addr string, n int, tlsCfg *tls.Config, mem bool) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return err
	}
	ws := make([]*worker.Worker, n)
	for i := range ws {
		if ws[i], err = worker.New(worker.Options{Index: i}); err != nil {
			return err
		}
		// Listen before Run: allowed, and the port is shared via SO_REUSEPORT.
		l, err := ws[i].Listen(ap, func(c *worker.Conn) {
			switch {
			case mem:
				c.SetHandler(newMemTLS(c, tlsCfg))
			case tlsCfg != nil:
				c.SetHandler(responder{})
				c.StartTLS(tlsCfg, 0)
			default:
				c.SetHandler(responder{})
			}
		})
		if err != nil {
			return err
		}
		ap = l.Addr() // the others share worker 0's (possibly ephemeral) port
		go ws[i].Run()
	}
	fmt.Fprintf(os.Stderr, "%d worker(s), listening on %s\n", n, ap)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	for _, w := range ws {
		w.Stop()
		<-w.Done()
	}
	return nil
}
