// Command h2specserver serves the http2test app over h2c on one worker so
// h2spec can judge the codec: go run ./host/http2/http2test/h2specserver -addr 127.0.0.1:8080
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/http2"
	"github.com/sluiceproxy/sluice/host/http2/http2test"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	verbose := flag.Bool("v", false, "debug logs")
	upgrade := flag.Bool("upgrade", false, "also accept HTTP/1.1 Upgrade: h2c (non-preface input is then HTTP/1)")
	flag.Parse()
	ap, err := netip.ParseAddrPort(*addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "h2specserver:", err)
		os.Exit(2)
	}
	log := zap.NewNop()
	if *verbose {
		log, _ = zap.NewDevelopment()
	}
	s, err := http2test.Start(http2test.Config{Addr: ap, Options: http2.Options{}, Log: log, AllowUpgrade: *upgrade})
	if err != nil {
		fmt.Fprintln(os.Stderr, "h2specserver:", err)
		os.Exit(1)
	}
	fmt.Println("listening on", s.Addr)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	s.Close()
}
