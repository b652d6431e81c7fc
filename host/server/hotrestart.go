package server

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Hot restart (binary upgrade): a new sluice process takes over the
// listening sockets of the running one over a unix socket, as nginx's
// binary upgrade and Envoy's hot restart do, so no connection is refused
// while the old process drains. One exchange on a stream connection:
//
//	new → old: "takeover\n"
//	old → new: one JSON line naming the listeners and how many sockets
//	           each has, the sockets attached (SCM_RIGHTS), in that order
//	new → old: "started\n" once its listeners serve on them (if it closes
//	           instead, it failed and the old process serves on alone)
//	old → new: "released\n" once its admin endpoint and the takeover
//	           socket are closed, so the new process can bind them; the
//	           old process then drains and exits
//
// Both processes accept on the shared sockets until the old one drains.

// maxHandoverFDs is the kernel's limit on descriptors in one message
// (SCM_MAX_FD).
const maxHandoverFDs = 253

// takeoverTimeout bounds each step of the exchange on either side.
const takeoverTimeout = 30 * time.Second

type handoverListener struct {
	Name    string `json:"name"`
	Address string `json:"address"` // as configured
	Sockets int    `json:"sockets"`
}

type handover struct {
	Listeners []handoverListener `json:"listeners"`
}

// Takeover is the new process's side of a hot restart: the sockets it
// received, by listener.
type Takeover struct {
	conn    *net.UnixConn
	r       *bufio.Reader
	sockets map[string]inheritedSockets
}

type inheritedSockets struct {
	address string
	fds     []int
}

// TakeOver asks the sluice serving the unix socket at path for its
// listening sockets. The caller builds its server, calls Inherit, Start,
// then Started; Close gives up (the old process serves on).
func TakeOver(path string) (*Takeover, error) {
	c, err := net.DialTimeout("unix", path, takeoverTimeout)
	if err != nil {
		return nil, fmt.Errorf("no sluice to take over at %s: %w", path, err)
	}
	uc := c.(*net.UnixConn)
	t := &Takeover{conn: uc, sockets: map[string]inheritedSockets{}}
	uc.SetDeadline(time.Now().Add(takeoverTimeout))
	if _, err := uc.Write([]byte("takeover\n")); err != nil {
		uc.Close()
		return nil, fmt.Errorf("takeover from %s: %w", path, err)
	}
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(maxHandoverFDs*4))
	n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
	if err != nil {
		uc.Close()
		return nil, fmt.Errorf("takeover from %s: %w", path, err)
	}
	var fds []int
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err == nil {
			for _, m := range msgs {
				if got, err := unix.ParseUnixRights(&m); err == nil {
					fds = append(fds, got...)
				}
			}
		}
	}
	t.r = bufio.NewReader(uc)
	line := string(buf[:n])
	if !strings.HasSuffix(line, "\n") {
		rest, err := t.r.ReadString('\n')
		if err != nil {
			closeFDs(fds)
			uc.Close()
			return nil, fmt.Errorf("takeover from %s: %w", path, err)
		}
		line += rest
	}
	var h handover
	if err := json.Unmarshal([]byte(line), &h); err != nil {
		closeFDs(fds)
		uc.Close()
		return nil, fmt.Errorf("takeover from %s: %s", path, strings.TrimSpace(line))
	}
	for _, l := range h.Listeners {
		if l.Sockets > len(fds) {
			closeFDs(fds)
			uc.Close()
			return nil, fmt.Errorf("takeover from %s: %d sockets announced for listener %q, %d received", path, l.Sockets, l.Name, len(fds))
		}
		t.sockets[l.Name] = inheritedSockets{address: l.Address, fds: fds[:l.Sockets]}
		fds = fds[l.Sockets:]
	}
	closeFDs(fds)
	return t, nil
}

// Started tells the old process that this one serves, and waits until it
// released its admin endpoint and takeover socket.
func (t *Takeover) Started() error {
	defer t.conn.Close()
	t.conn.SetDeadline(time.Now().Add(takeoverTimeout))
	if _, err := t.conn.Write([]byte("started\n")); err != nil {
		return err
	}
	line, err := t.r.ReadString('\n')
	if err != nil {
		return err
	}
	if line != "released\n" {
		return fmt.Errorf("unexpected answer %q", strings.TrimSpace(line))
	}
	return nil
}

// Close abandons the takeover: sockets not used are closed, and the old
// process serves on.
func (t *Takeover) Close() {
	for name, s := range t.sockets {
		closeFDs(s.fds)
		delete(t.sockets, name)
	}
	t.conn.Close()
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// Inherit makes Start serve on the sockets t received for every listener
// whose name and configured address are unchanged (the others bind as
// usual; inherited sockets no listener wants are closed), and leaves the
// admin endpoint to StartAdmin, after the old process released it. Main
// goroutine, before Start.
func (s *Server) Inherit(t *Takeover) {
	for _, l := range s.gen().lis {
		in, ok := t.sockets[l.Name()]
		if ok && in.address == l.ConfigAddress().String() {
			l.Inherit(in.fds)
			delete(t.sockets, l.Name())
			s.log.Info("taking over listening sockets", zap.String("listener", l.Name()), zap.Int("sockets", len(in.fds)))
		}
	}
	for name, in := range t.sockets {
		s.log.Info("listener not in the new config; its sockets are closed", zap.String("listener", name))
		closeFDs(in.fds)
		delete(t.sockets, name)
	}
	s.deferAdmin = true
}

// StartAdmin starts the admin endpoint that Start left out after Inherit.
func (s *Server) StartAdmin() error {
	g := s.gen()
	if g.cfg.Admin == nil || s.admin != nil {
		return nil
	}
	a, err := startAdmin(s, g.cfg.Admin.Addr)
	if err != nil {
		return fmt.Errorf("admin.address: %s: %w", g.cfg.Admin.Address, err)
	}
	s.admin = a
	s.log.Info("admin listening", zap.String("address", a.addr.String()))
	return nil
}

// TakenOver is closed when a new process took over the sockets (the
// caller then drains and exits).
func (s *Server) TakenOver() <-chan struct{} { return s.takenOver }

// ServeTakeover listens on the unix socket at path for a new sluice that
// takes over (hot_restart.socket), until Stop or a takeover. A stale
// socket file (no process behind it) is replaced; a live one is an error.
func (s *Server) ServeTakeover(path string) error {
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return fmt.Errorf("hot_restart.socket: %s: another process serves it", path)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("hot_restart.socket: %w", err)
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("hot_restart.socket: %w", err)
	}
	s.retirers.Add(1)
	go func() {
		defer s.retirers.Done()
		<-s.quit
		ln.Close()
	}()
	s.retirers.Add(1)
	go func() {
		defer s.retirers.Done()
		for {
			c, err := ul.AcceptUnix()
			if err != nil {
				return // closed
			}
			done, err := s.handOver(c, ln)
			c.Close()
			if err != nil {
				s.log.Error("hot restart: takeover failed; serving on", zap.Error(err))
			}
			if done {
				close(s.takenOver)
				return
			}
		}
	}()
	return nil
}

// handOver is the old process's side of one takeover. It reports whether
// the new process took over (the caller then signals TakenOver). Before it
// confirms the release it closes ln, the takeover socket, as well as the
// admin endpoint: the new process binds both as soon as it reads the
// confirmation.
func (s *Server) handOver(c *net.UnixConn, ln net.Listener) (bool, error) {
	c.SetDeadline(time.Now().Add(takeoverTimeout))
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil || line != "takeover\n" {
		return false, fmt.Errorf("unexpected request %q (%v)", strings.TrimSpace(line), err)
	}
	if s.Draining() {
		c.Write([]byte(`{"error":"draining"}` + "\n"))
		return false, errors.New("asked to hand over while draining")
	}
	s.reloadMu.Lock() // no reload changes the listeners meanwhile
	h, fds, err := s.dupSockets()
	s.reloadMu.Unlock()
	defer closeFDs(fds)
	if err != nil {
		c.Write([]byte(`{"error":` + strconv.Quote(err.Error()) + "}\n"))
		return false, err
	}
	msg, _ := json.Marshal(h)
	if _, _, err := c.WriteMsgUnix(append(msg, '\n'), unix.UnixRights(fds...), nil); err != nil {
		return false, err
	}
	s.log.Info("hot restart: sockets handed over; waiting for the new process", zap.Int("sockets", len(fds)))
	line, err = r.ReadString('\n')
	if err != nil || line != "started\n" {
		return false, fmt.Errorf("the new process did not start (%q, %v)", strings.TrimSpace(line), err)
	}
	if s.admin != nil {
		s.admin.close()
	}
	ln.Close()
	if _, err := c.Write([]byte("released\n")); err != nil {
		s.log.Warn("hot restart: could not confirm the release", zap.Error(err))
	}
	s.log.Info("hot restart: a new process took over; draining")
	return true, nil
}

// dupSockets duplicates every listening socket of the current generation,
// worker by worker. Under reloadMu.
func (s *Server) dupSockets() (handover, []int, error) {
	var h handover
	var all []int
	for _, l := range s.gen().lis {
		n := 0
		for i, w := range s.workers {
			var fds []int
			var err error
			if !onWorker(w, func() { fds, err = l.DupSockets(i) }) {
				err = fmt.Errorf("worker %d stopped", i)
			}
			if err != nil {
				closeFDs(all)
				return h, nil, err
			}
			all = append(all, fds...)
			n += len(fds)
		}
		h.Listeners = append(h.Listeners, handoverListener{Name: l.Name(), Address: l.ConfigAddress().String(), Sockets: n})
	}
	if len(all) > maxHandoverFDs {
		closeFDs(all)
		return h, nil, fmt.Errorf("%d listening sockets (listeners × workers) are more than one message carries (%d)", len(all), maxHandoverFDs)
	}
	return h, all, nil
}
