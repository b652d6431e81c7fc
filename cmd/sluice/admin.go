package main

// The commands that talk to a running sluice through its admin endpoint on
// this host: `sluice drain` (a preStop hook) and `sluice ready` (a health
// check for images without a shell).

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/sluiceproxy/sluice/host/config"
)

// cmdDrain asks a running sluice, through its admin endpoint on this host,
// to drain (POST /drain_listeners) and waits until it has: a Kubernetes
// preStop hook, so the pod stops taking connections, finishes what it has,
// and only then gets SIGTERM. The admin address comes from the config
// (-c) or -admin; an unspecified address (0.0.0.0:9901, as in a pod) is
// reached on loopback, the only place that endpoint answers.
func cmdDrain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("drain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "", "config file of the running sluice (for admin.address)")
	admin := fs.String("admin", "", "admin address, IP:port (instead of -c)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	addr, err := adminTarget(*path, *admin)
	if err != nil {
		fmt.Fprintln(stderr, "sluice drain:", err)
		return 2
	}
	// No deadline of our own: the drain is bounded by drain_delay and
	// drain_timeout, and a preStop hook by the pod's grace period.
	resp, err := http.Post("http://"+addr.String()+"/drain_listeners", "text/plain", nil)
	if err != nil {
		fmt.Fprintln(stderr, "sluice drain:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "sluice drain: %s: %s", resp.Status, body)
		return 1
	}
	fmt.Fprint(stdout, string(body))
	return 0
}

// cmdReady asks a running sluice's admin endpoint on this host whether it
// is ready (GET /ready): exit 0 on 200, 1 otherwise, printing the answer.
// It is the container image's HEALTHCHECK, which has no shell or curl.
func cmdReady(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ready", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "", "config file of the running sluice (for admin.address)")
	admin := fs.String("admin", "", "admin address, IP:port (instead of -c)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	addr, err := adminTarget(*path, *admin)
	if err != nil {
		fmt.Fprintln(stderr, "sluice ready:", err)
		return 2
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr.String() + "/ready")
	if err != nil {
		fmt.Fprintln(stderr, "sluice ready:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Fprint(stdout, string(body))
	if resp.StatusCode != http.StatusOK {
		return 1
	}
	return 0
}

// adminTarget is the admin address to call on this host, from -c or
// -admin.
func adminTarget(path, admin string) (netip.AddrPort, error) {
	switch {
	case admin != "" && path != "":
		return netip.AddrPort{}, fmt.Errorf("give -c FILE or -admin ADDR, not both")
	case admin != "":
		ap, err := netip.ParseAddrPort(admin)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("-admin %q: want IP:port", admin)
		}
		return loopbackFor(ap), nil
	case path != "":
		cfg, err := config.Load(path)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("%s", strings.TrimSpace(err.Error()))
		}
		if cfg.Admin == nil {
			return netip.AddrPort{}, fmt.Errorf("%s: no admin endpoint configured", path)
		}
		return loopbackFor(cfg.Admin.Addr), nil
	}
	return netip.AddrPort{}, fmt.Errorf("-c FILE or -admin ADDR is required")
}

// loopbackFor turns a wildcard listen address into the loopback address of
// its family.
func loopbackFor(ap netip.AddrPort) netip.AddrPort {
	switch {
	case ap.Addr() == netip.IPv4Unspecified():
		return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), ap.Port())
	case ap.Addr() == netip.IPv6Unspecified():
		return netip.AddrPortFrom(netip.IPv6Loopback(), ap.Port())
	}
	return ap
}
