// Command tcpbench drives TCP proxies for bench/tcp.sh: it runs the backend
// itself and measures through a proxy.
//
//	tcpbench backend -addr 127.0.0.1:9000
//	    serves: a connection that starts with 'S' gets N bytes streamed to
//	    it (N is the next 8 bytes, big endian), anything else is echoed.
//	tcpbench bulk -proxy 127.0.0.1:10000 -bytes 1073741824
//	    streams that many bytes from the backend through the proxy and
//	    prints "bytes seconds".
//	tcpbench conns -proxy 127.0.0.1:10000 -c 50 -d 10s
//	    opens connections in a loop (C at a time): connect, send 1 byte,
//	    read the echo, close; prints "connections seconds".
package main

import (
	"encoding/binary"
	"errors"
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
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: tcpbench backend|bulk|conns [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "backend address")
	proxy := fs.String("proxy", "", "proxy address")
	total := fs.Int64("bytes", 1<<30, "bulk: bytes to stream")
	conc := fs.Int("c", 50, "conns: concurrent clients")
	dur := fs.Duration("d", 10*time.Second, "conns: duration")
	fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "backend":
		err = backend(*addr)
	case "bulk":
		err = bulk(*proxy, *total)
	case "conns":
		err = conns(*proxy, *conc, *dur)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tcpbench:", err)
		os.Exit(1)
	}
}

var block = make([]byte, 256<<10)

func backend(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go serve(c)
	}
}

func serve(c net.Conn) {
	defer c.Close()
	var first [1]byte
	if _, err := io.ReadFull(c, first[:]); err != nil {
		return
	}
	if first[0] != 'S' {
		c.Write(first[:])
		io.Copy(c, c)
		return
	}
	var n [8]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return
	}
	left := int64(binary.BigEndian.Uint64(n[:]))
	for left > 0 {
		k := min(left, int64(len(block)))
		if _, err := c.Write(block[:k]); err != nil {
			return
		}
		left -= k
	}
	c.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, c)
}

func bulk(proxy string, total int64) error {
	c, err := net.Dial("tcp", proxy)
	if err != nil {
		return err
	}
	defer c.Close()
	var req [9]byte
	req[0] = 'S'
	binary.BigEndian.PutUint64(req[1:], uint64(total))
	start := time.Now()
	if _, err := c.Write(req[:]); err != nil {
		return err
	}
	buf := make([]byte, 256<<10)
	var got int64
	for {
		n, err := c.Read(buf)
		got += int64(n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	if got != total {
		return fmt.Errorf("got %d of %d bytes", got, total)
	}
	fmt.Printf("%d %.6f\n", got, time.Since(start).Seconds())
	return nil
}

func conns(proxy string, c int, d time.Duration) error {
	var done atomic.Int64
	var failed atomic.Int64
	end := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < c; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := []byte{'x'}
			for time.Now().Before(end) {
				conn, err := net.Dial("tcp", proxy)
				if err != nil {
					failed.Add(1)
					continue
				}
				conn.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := conn.Write(b); err == nil {
					if _, err = io.ReadFull(conn, b); err == nil {
						done.Add(1)
					} else {
						failed.Add(1)
					}
				}
				conn.(*net.TCPConn).SetLinger(0) // no TIME_WAIT pile-up on the client side
				conn.Close()
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > done.Load()/100 {
		return fmt.Errorf("%d of %d connections failed", f, f+done.Load())
	}
	fmt.Printf("%d %.6f\n", done.Load(), time.Since(start).Seconds())
	return nil
}
