package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sluiceproxy/sluice/abi"
	"github.com/sluiceproxy/sluice/host/config"
	"github.com/sluiceproxy/sluice/host/logging"
	"github.com/sluiceproxy/sluice/host/server"
)

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		// Module paths in the built-in config are relative to the binary,
		// so `build/sluice run` works from any directory.
		dir := "."
		if exe, err := os.Executable(); err == nil {
			dir = filepath.Dir(exe)
		}
		return config.Parse(config.DefaultYAML, filepath.Join(dir, "built-in-default.yaml"))
	}
	return config.Load(path)
}

// cmdValidate checks a config: every error with its YAML path, then, unless
// --no-modules, builds it as `run` would without serving — each module
// file is checked (existence, permissions), loaded, initialised, given its
// real config (config_new, per-route configs) and shut down again — so a
// config that validates also starts.
func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "", "config file")
	noModules := fs.Bool("no-modules", false, "check the config only; do not load the modules it names")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprintln(stderr, "sluice validate: -c FILE is required")
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if !*noModules {
		// Warnings (e.g. a misspelled optional hook) go to stderr.
		log := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()),
			zapcore.Lock(os.Stderr), zapcore.WarnLevel))
		if err := server.Check(cfg, log); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", *path, err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "%s: ok\n", *path)
	return 0
}

func cmdVersion(stdout io.Writer) int {
	fmt.Fprintf(stdout, "sluice %s (module ABI %d.%d, %s, %s/%s)\n", version,
		abi.VersionMajor, abi.VersionMinor, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return 0
}

// newLogger builds the process log. It writes through a non-blocking
// writer: workers log on their event-loop threads, and a stderr nobody
// reads must not stall them (entries are dropped and counted instead).
func newLogger(c config.Log) (*zap.Logger, *logging.Writer, error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, nil, err
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	if c.Format == "json" {
		enc = zapcore.NewJSONEncoder(encCfg)
	} else {
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	}
	out := logging.NewWriter(os.Stderr, 0)
	return zap.New(zapcore.NewCore(enc, out, level)), out, nil
}

// fatalStop ends the process after a worker died or stayed stuck: the
// healthy workers drain (bounded), then sluice exits 1 so its supervisor
// restarts it. A stuck worker cannot be stopped, so the wait is bounded too.
func fatalStop(srv *server.Server, cfg *config.Config, log *zap.Logger, cause error) int {
	log.Error("stopping after a fatal worker failure", zap.Error(cause))
	done := make(chan struct{})
	go func() {
		srv.Drain(0, cfg.DrainTimeout) // no delay: the process is failing
		srv.Stop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(cfg.DrainTimeout + time.Second):
		log.Error("gave up waiting for workers to stop")
	}
	log.Info("sluice stopped")
	return 1
}

// takenOver is the pseudo-signal of a hot restart handing over.
type takenOver struct{}

func (takenOver) String() string { return "taken over by a new process" }
func (takenOver) Signal()        {}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "", "config file (default: the built-in config)")
	takeover := fs.Bool("takeover", false, "hot restart: take over the listening sockets of the sluice serving hot_restart.socket, which then drains and exits")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	log, logOut, err := newLogger(cfg.Log)
	if err != nil {
		fmt.Fprintln(stderr, "log.level:", err)
		return 1
	}
	defer logOut.Close()
	defer log.Sync()
	// Errors have the shape of config errors: FILE: YAML-PATH: cause.
	source := *path
	if source == "" {
		source = "built-in default config"
	}
	srv, err := server.New(cfg, log)
	if err != nil {
		log.Sync()
		fmt.Fprintf(stderr, "%s: %v\n", source, err)
		return 1
	}
	srv.CountLogDrops(logOut.Dropped)
	var handover *server.Takeover
	if *takeover {
		if cfg.HotRestart == nil {
			srv.Stop()
			fmt.Fprintf(stderr, "%s: hot_restart.socket: required by --takeover\n", source)
			return 1
		}
		handover, err = server.TakeOver(cfg.HotRestart.Socket)
		if err != nil {
			srv.Stop()
			fmt.Fprintf(stderr, "%s: hot_restart.socket: %v\n", source, err)
			return 1
		}
		srv.Inherit(handover)
	}
	if err := srv.Start(); err != nil {
		if handover != nil {
			handover.Close() // the old process serves on
		}
		log.Sync()
		fmt.Fprintf(stderr, "%s: %v\n", source, err)
		return 1
	}
	if handover != nil {
		// Serving on the old process's sockets now; it releases its admin
		// endpoint and takeover socket, then drains.
		if err := handover.Started(); err != nil {
			log.Error("hot restart: the old process did not confirm; its admin endpoint may still be bound", zap.Error(err))
		}
		if err := srv.StartAdmin(); err != nil {
			log.Error("hot restart: serving without the admin endpoint", zap.Error(err))
		}
	}
	if cfg.HotRestart != nil {
		if err := srv.ServeTakeover(cfg.HotRestart.Socket); err != nil {
			srv.Stop()
			fmt.Fprintf(stderr, "%s: %v\n", source, err)
			return 1
		}
	}
	if *path != "" {
		srv.SetConfigPath(*path)
		if err := srv.WatchConfig(*path); err != nil {
			log.Warn("config file changes will not be noticed (watch)", zap.Error(err))
		}
	}
	// Signals are caught before "sluice started" is logged: a supervisor
	// that reloads as soon as it reads that line must not kill the proxy.
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1)
	log.Info("sluice started", zap.String("version", version), zap.Int("concurrency", cfg.Concurrency))
	var got os.Signal
	for got == nil {
		var s os.Signal
		select {
		case s = <-sig:
		case err := <-srv.Fatal():
			return fatalStop(srv, srv.Config(), log, err)
		case <-srv.TakenOver():
			// A new process serves on the sockets: drain and exit 0.
			s = takenOver{}
		}
		switch s {
		case syscall.SIGUSR1:
			// Envoy's signal for log rotation: reopen access-log files.
			if err := srv.ReopenAccessLogs(); err != nil {
				log.Error("reopening access logs", zap.Error(err))
			} else {
				log.Info("access logs reopened")
			}
		case syscall.SIGHUP:
			// nginx's reload signal. Reload logs and counts its outcome;
			// a failed one leaves the running configuration serving.
			if *path == "" {
				log.Warn("SIGHUP ignored: sluice runs its built-in config (no -c file to reload)")
			} else {
				go srv.Reload(*path)
			}
		default:
			got = s
		}
	}
	log.Info("shutting down", zap.String("signal", got.String()))
	var forced atomic.Bool
	go func() {
		// A second SIGTERM/SIGINT cuts the drain short: Stop ends its
		// delay and closes what is open.
		for s := range sig {
			if s == syscall.SIGTERM || s == syscall.SIGINT {
				break
			}
		}
		log.Warn("second signal: stopping now")
		forced.Store(true)
		srv.Stop()
	}()
	live := srv.Config() // the reloaded values, if any
	srv.Drain(live.DrainDelay, live.DrainTimeout)
	srv.Stop()
	log.Info("sluice stopped")
	if forced.Load() {
		return 1
	}
	return 0
}
