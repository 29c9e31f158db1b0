package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/server"
)

// cmdStart serves the HTTP API and the panel until ctx ends (SIGINT or
// SIGTERM), then shuts down gracefully.
func cmdStart(ctx context.Context, args []string, env Env) error {
	var (
		c         common
		listen    string
		port      int
		grace     time.Duration
		logFormat string
		logLevel  string
		watch     bool
		serve     serveCacheFlags
	)
	defHost, defPort := "127.0.0.1", 9876
	if h, p, err := net.SplitHostPort(env.getenv("BUILDNET_ADDR")); err == nil {
		if n, err := strconv.Atoi(p); err == nil {
			defPort = n
		}
		if h != "" {
			defHost = h
		}
	}
	fs := newFlags("start", &c, env)
	fs.StringVar(&listen, "listen", defHost, "address to listen on (loopback unless you mean it)")
	fs.IntVar(&port, "port", defPort, "port to listen on (0 picks a free one)")
	fs.DurationVar(&grace, "grace", server.DefaultShutdownGrace, "at shutdown, how long running builds may finish before they are cancelled")
	fs.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&watch, "watch", false, "rebuild changed packages and their dependents as files change")
	serve.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	// An explicit --addr says where to listen, unless --listen or --port
	// say otherwise.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["addr"] {
		h, p, err := net.SplitHostPort(c.addr)
		n, perr := strconv.Atoi(p)
		if err != nil || perr != nil {
			return usageErr("start: --addr %q: want host:port", c.addr)
		}
		if !set["listen"] && h != "" {
			listen = h
		}
		if !set["port"] {
			port = n
		}
	}
	logger, err := newLogger(env.Stderr, logFormat, logLevel)
	if err != nil {
		return err
	}
	if port < 0 || port > 65535 {
		return usageErr("start: --port %d: want 0 to 65535", port)
	}
	if grace <= 0 {
		return usageErr("start: --grace %s: want a positive duration", grace)
	}
	if err := serve.check(); err != nil {
		return err
	}
	root, err := c.workspace(env)
	if err != nil {
		return err
	}
	e, err := buildnet.Open(ctx, buildnet.Config{Root: root, Logger: logger.With("component", "engine")})
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(listen, strconv.Itoa(port))
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		e.Close()
		if errors.Is(err, syscall.EADDRINUSE) {
			return &Error{Code: "address_in_use", Exit: 1, Message: fmt.Sprintf(
				"listen on %s: address in use (is buildnetd already running? pick another --port)", addr)}
		}
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	bound := ln.Addr().String()
	obs, err := startObservers(ctx, e, env, logger)
	if err != nil {
		ln.Close()
		e.Close()
		return err
	}
	store, closeStore, err := serve.open(ctx, e, logger)
	if err != nil {
		obs.stop()
		ln.Close()
		e.Close()
		return err
	}
	defer closeStore()
	s := server.New(e, server.Options{Logger: logger, Version: Version, ShutdownGrace: grace, ListenAddr: bound, Alerts: obs.alerts,
		Artifacts: store})
	logger.Info("buildnetd listening", "addr", bound, "url", "http://"+bound+"/", "workspace", e.Root(), "version", Version)
	stopWatch := watchWorkspace(ctx, e, logger, watch)
	serveErr := s.Serve(ctx, ln)
	stopWatch()
	closeErr := e.Close()
	obs.stop()
	if closeErr != nil {
		logger.Error("close engine", "err", closeErr)
	}
	return errors.Join(serveErr, closeErr)
}

// newLogger makes the daemon's logger.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageErr("start: --log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, usageErr("start: --log-format %q: want text or json", format)
	}
}
