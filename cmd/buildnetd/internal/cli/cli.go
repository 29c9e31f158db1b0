// Package cli implements buildnetd's command line: its verbs, flags and
// human and JSON output.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/musclemap/buildnet/buildnet"
)

// Version is the version buildnetd reports.
const Version = "0.1.0"

// Env is what a command invocation sees of the outside world.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment; nil reads nothing.
	Getenv func(string) string
	// Dir is the working directory; "" means the process's.
	Dir string
	// SizeMemory, when set, is told how many packages the workspace an
	// in-process command opened has, so a one-shot process can size its
	// memory limit to it.
	SizeMemory func(packages int)
}

func (e Env) getenv(k string) string {
	if e.Getenv == nil {
		return ""
	}
	return e.Getenv(k)
}

func (e Env) dir() (string, error) {
	if e.Dir != "" {
		return filepath.Abs(e.Dir)
	}
	return os.Getwd()
}

// isTTY reports whether w is a terminal.
func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Error is a failure with a machine-readable code and an exit status.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Exit    int    `json:"-"`
}

func (e *Error) Error() string { return e.Message }

func usageErr(format string, args ...any) *Error {
	return &Error{Code: "usage", Message: fmt.Sprintf(format, args...), Exit: 2}
}

// errSilent ends a command whose output already said what went wrong.
var errSilent = errors.New("")

// Main runs one invocation and returns its exit status.
func Main(ctx context.Context, args []string, env Env) int {
	jsonOut := hasFlag(args, "json")
	err := dispatch(ctx, args, env)
	if err == nil {
		return 0
	}
	if errors.Is(err, errSilent) {
		return 1
	}
	ce := classify(err)
	if jsonOut {
		writeJSON(env.Stdout, map[string]any{"error": ce})
	} else {
		fmt.Fprintf(env.Stderr, "buildnetd: %s\n", ce.Message)
	}
	return ce.Exit
}

// classify turns any error into an *Error with a stable code.
func classify(err error) *Error {
	var ce *Error
	switch {
	case errors.As(err, &ce):
		return ce
	case errors.Is(err, buildnet.ErrConfig):
		return &Error{Code: "invalid_config", Message: err.Error(), Exit: 2}
	case errors.Is(err, buildnet.ErrUnknownPackage):
		return &Error{Code: "unknown_package", Message: err.Error(), Exit: 2}
	case errors.Is(err, context.Canceled):
		return &Error{Code: "cancelled", Message: "interrupted", Exit: 130}
	default:
		return &Error{Code: "internal", Message: err.Error(), Exit: 1}
	}
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-"+name || a == "--"+name || strings.HasPrefix(a, "--"+name+"=") {
			return true
		}
	}
	return false
}

func dispatch(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		usage(env.Stderr)
		return usageErr("no command given")
	}
	verb, rest := args[0], args[1:]
	switch verb {
	case "start":
		return cmdStart(ctx, rest, env)
	case "build":
		return cmdBuild(ctx, rest, env)
	case "status":
		return cmdStatus(ctx, rest, env)
	case "cache":
		return cmdCache(ctx, rest, env)
	case "key":
		return cmdKey(ctx, rest, env)
	case "user":
		return cmdUser(ctx, rest, env)
	case "audit":
		return cmdAudit(ctx, rest, env)
	case "init":
		return cmdInit(ctx, rest, env)
	case "why":
		return cmdWhy(ctx, rest, env)
	case "diff":
		return cmdDiff(ctx, rest, env)
	case "graph":
		return cmdGraph(ctx, rest, env)
	case "watch":
		return cmdWatch(ctx, rest, env)
	case "template":
		return cmdTemplate(ctx, rest, env)
	case "version", "--version":
		return cmdVersion(rest, env)
	case "help", "-h", "--help":
		usage(env.Stdout)
		return nil
	default:
		usage(env.Stderr)
		return usageErr("unknown command %q", verb)
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `buildnetd builds the packages of a monorepo, skipping what has not changed.

Usage:
  buildnetd start [--listen 127.0.0.1] [--port 9876] [--grace 30s] [--watch]
                  [--log-format text|json] [--log-level info]
                  [--serve-cache [--serve-cache-max-size 10GB] [--serve-cache-max-artifact 512MB] [--serve-cache-max-age 0]]
  buildnetd build [--all | --package NAME ... | --filter F ... | --affected [--base REF] [--head REF]]
                  [--force] [--dry] [--summarize] [--verbose] [--json]
  buildnetd why PACKAGE [--since BUILD_ID] [--json]
  buildnetd diff DIGEST_A DIGEST_B [--json]
  buildnetd graph [--affected [--base REF] [--head REF]] [--filter F ...] [--format list|json|dot]
  buildnetd watch [--debounce 150ms]
  buildnetd template list | apply NAME --set key=value ...
  buildnetd status [--json]
  buildnetd cache stats|clear [--json]
  buildnetd key create --name NAME --role read|build|admin | list | revoke ID [--json]
  buildnetd user add NAME --role ROLE | list | remove NAME | passwd NAME [--password-stdin] [--json]
  buildnetd audit export [--actor A] [--action A] [--outcome allowed|denied] [--q TEXT]
                         [--since T] [--until T] [--output FILE] | prune [--days N]
  buildnetd init [--force] [--json]
  buildnetd version

start serves the HTTP API and the web panel (http://127.0.0.1:9876/) for
the workspace until SIGINT or SIGTERM; running builds then get --grace to
finish before they are cancelled.

status, build and cache talk to the daemon at --addr (default
$BUILDNET_ADDR, else 127.0.0.1:9876) when it answers for the same
workspace root, and otherwise run in process; --local always runs in
process. They authenticate with --token ($BUILDNET_TOKEN), else the admin
key the daemon wrote to .buildnet/admin.key.

key, user and audit work on the workspace's state whether or not the
daemon runs; a revoked key stops working at once. See docs/security.md.

Every command takes --root DIR (default: the nearest folder upward holding
.buildnet/) and --json for machine-readable output. Exit status is 0 only
on success. See docs/cli.md.
`)
}

// common holds the flags every verb takes.
type common struct {
	root    string
	json    bool
	noColor bool
	addr    string // the daemon's address
	local   bool   // never use a daemon
	token   string // credentials for the daemon; "" means the admin key file
}

func newFlags(name string, c *common, env Env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.root, "root", "", "workspace root (default: nearest folder upward holding .buildnet/)")
	fs.BoolVar(&c.json, "json", false, "print machine-readable JSON")
	fs.BoolVar(&c.noColor, "no-color", env.getenv("NO_COLOR") != "", "disable colours")
	fs.StringVar(&c.addr, "addr", envAddr(env), "address of the daemon to use when it serves this workspace")
	fs.BoolVar(&c.local, "local", false, "run in process even when a daemon serves this workspace")
	fs.StringVar(&c.token, "token", env.getenv("BUILDNET_TOKEN"), "API key or login token for the daemon (default: $BUILDNET_TOKEN, else .buildnet/admin.key)")
	return fs
}

// envAddr is the default daemon address: $BUILDNET_ADDR, else DefaultAddr.
func envAddr(env Env) string {
	if a := env.getenv("BUILDNET_ADDR"); a != "" {
		return a
	}
	return DefaultAddr
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return usageErr("usage of %s: see `buildnetd help`", fs.Name())
		}
		return usageErr("%s: %v", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return usageErr("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// findRoot returns the workspace root: dir itself if given, else the
// nearest folder from start upward that holds .buildnet/config.json.
func findRoot(given, start string) (string, error) {
	if given != "" {
		return filepath.Abs(given)
	}
	for d := start; ; {
		if _, err := os.Stat(filepath.Join(d, buildnet.ConfigFile)); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", &Error{Code: "no_workspace", Exit: 2, Message: fmt.Sprintf(
				"no %s in %s or any folder above it: run `buildnetd init` at your workspace root, or pass --root DIR", buildnet.ConfigFile, start)}
		}
		d = parent
	}
}

// workspace returns the workspace root the command works on.
func (c *common) workspace(env Env) (string, error) {
	cwd, err := env.dir()
	if err != nil {
		return "", err
	}
	return findRoot(c.root, cwd)
}

// connect returns a client of the daemon serving the workspace, or, when
// none does, an engine opened in process (the caller closes it).
func (c *common) connect(ctx context.Context, env Env) (string, *client, *buildnet.Engine, error) {
	root, err := c.workspace(env)
	if err != nil {
		return "", nil, nil, err
	}
	if cl := c.daemon(ctx, root); cl != nil {
		return root, cl, nil, nil
	}
	// A one-shot process does not write down builds that did nothing.
	e, err := buildnet.Open(ctx, buildnet.Config{Root: root, DiscardNoops: true})
	if err == nil && env.SizeMemory != nil {
		env.SizeMemory(len(e.Workspace().Packages))
	}
	if err != nil {
		return "", nil, nil, err
	}
	return root, nil, e, nil
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func cmdVersion(args []string, env Env) error {
	var c common
	fs := newFlags("version", &c, env)
	if err := parse(fs, args); err != nil {
		return err
	}
	if c.json {
		writeJSON(env.Stdout, map[string]string{"version": Version})
		return nil
	}
	fmt.Fprintf(env.Stdout, "buildnetd %s\n", Version)
	return nil
}
