package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/musclemap/buildnet/cmd/buildnetd/internal/auth"
	"github.com/musclemap/buildnet/state"
)

// The key, user and audit verbs work on the workspace's state database
// directly, whether or not a daemon runs: SQLite lets both use it at once,
// and the daemon reads keys and users at every request, so a revoked key
// stops working at once. Having the workspace's files is being its admin.

// parseArgs parses flags interleaved with up to max positional arguments.
func parseArgs(fs *flag.FlagSet, args []string, max int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, usageErr("usage of %s: see `buildnetd help`", fs.Name())
			}
			return nil, usageErr("%s: %v", fs.Name(), err)
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		if len(pos) > max {
			return nil, usageErr("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
		}
		args = fs.Args()[1:]
	}
}

// openState opens the workspace's state database.
func (c *common) openState(ctx context.Context, env Env) (*state.DB, string, error) {
	root, err := c.workspace(env)
	if err != nil {
		return nil, "", err
	}
	db, err := state.Open(ctx, filepath.Join(root, ".buildnet", "state.db"), state.Options{})
	if err != nil {
		return nil, "", err
	}
	return db, root, nil
}

// localActor names whoever runs the CLI in the audit log.
func localActor(env Env) string {
	if u := env.getenv("USER"); u != "" {
		return "local:" + u
	}
	return "local"
}

// recordLocal appends an audit entry for a CLI action.
func recordLocal(ctx context.Context, db *state.DB, env Env, action, target string, details map[string]any) {
	_ = db.AppendAudit(ctx, []state.AuditEntry{{Actor: localActor(env), Role: "admin", Action: action, Target: target,
		Outcome: state.OutcomeAllowed, Details: details}})
}

func accessErr(err error) error {
	switch {
	case errors.Is(err, state.ErrNotFound):
		return &Error{Code: "not_found", Message: err.Error(), Exit: 1}
	case errors.Is(err, state.ErrExists):
		return &Error{Code: "conflict", Message: err.Error(), Exit: 1}
	case errors.Is(err, auth.ErrInvalidRole), errors.Is(err, auth.ErrInvalidName), errors.Is(err, auth.ErrWeakPassword),
		errors.Is(err, state.ErrInvalid):
		return &Error{Code: "bad_request", Message: err.Error(), Exit: 2}
	}
	return err
}

// cmdKey runs `key create|list|revoke`.
func cmdKey(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		return usageErr("key: want `key create --name NAME --role read|build|admin`, `key list` or `key revoke ID`")
	}
	verb := args[0]
	var (
		c          common
		name, role string
	)
	fs := newFlags("key "+verb, &c, env)
	if verb == "create" {
		fs.StringVar(&name, "name", "", "the key's name")
		fs.StringVar(&role, "role", "", "read, build or admin")
	}
	max := 0
	if verb == "revoke" {
		max = 1
	}
	pos, err := parseArgs(fs, args[1:], max)
	if err != nil {
		return err
	}
	db, root, err := c.openState(ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()
	switch verb {
	case "create":
		if name == "" || role == "" {
			return usageErr("key create: --name and --role are required")
		}
		r, err := auth.ParseRole(role)
		if err != nil {
			return accessErr(err)
		}
		k, err := auth.CreateKey(ctx, db, name, r, localActor(env))
		if err != nil {
			return accessErr(err)
		}
		recordLocal(ctx, db, env, auth.ActionKeyCreate, "key:"+k.ID, map[string]any{"name": k.Name, "role": k.Role, "via": "cli"})
		if c.json {
			writeJSON(env.Stdout, k)
			return nil
		}
		fmt.Fprintf(env.Stdout, "created key %s (%s, role %s):\n\n  %s\n\nStore it now: it is not shown again.\n", k.ID, k.Name, k.Role, k.Key)
		return nil
	case "list":
		keys, err := db.Keys(ctx)
		if err != nil {
			return err
		}
		if c.json {
			writeJSON(env.Stdout, map[string]any{"keys": keys})
			return nil
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tROLE\tPREFIX\tCREATED\tLAST USED\tSTATUS")
		for _, k := range keys {
			status := "active"
			if k.Revoked() {
				status = "revoked " + fmtTime(k.RevokedAt)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s…\t%s\t%s\t%s\n", k.ID, k.Name, k.Role, k.Prefix, fmtTime(k.CreatedAt), fmtTime(k.LastUsedAt), status)
		}
		return tw.Flush()
	case "revoke":
		if len(pos) != 1 {
			return usageErr("key revoke: want the key's id (see `buildnetd key list`)")
		}
		if cl := c.daemon(ctx, root); cl != nil {
			// The daemon serving the workspace revokes it, so that it
			// refuses the key at once: it reuses a key lookup for a
			// moment, and would not see the database change before.
			if err := cl.do(ctx, http.MethodDelete, "/keys/"+url.PathEscape(pos[0]), nil, nil); err != nil {
				return err
			}
		} else {
			if err := db.RevokeKey(ctx, pos[0], time.Time{}); err != nil {
				return accessErr(err)
			}
			recordLocal(ctx, db, env, auth.ActionKeyRevoke, "key:"+pos[0], map[string]any{"via": "cli"})
		}
		if c.json {
			writeJSON(env.Stdout, map[string]any{"id": pos[0], "revoked": true})
			return nil
		}
		fmt.Fprintf(env.Stdout, "revoked key %s\n", pos[0])
		return nil
	}
	return usageErr("key: unknown verb %q: want create, list or revoke", verb)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// readPassword reads a password from the first line of stdin, or asks
// for it twice on a terminal.
func readPassword(env Env, fromStdin bool) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(env.Stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	in, ok := env.Stdin.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return "", usageErr("no terminal to ask for the password: pass --password-stdin and write it to standard input")
	}
	ask := func(prompt string) (string, error) {
		fmt.Fprint(env.Stderr, prompt)
		b, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(env.Stderr)
		return string(b), err
	}
	p1, err := ask("Password: ")
	if err != nil {
		return "", err
	}
	p2, err := ask("Again: ")
	if err != nil {
		return "", err
	}
	if p1 != p2 {
		return "", usageErr("the passwords differ")
	}
	return p1, nil
}

// cmdUser runs `user add|list|remove|passwd`.
func cmdUser(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		return usageErr("user: want `user add NAME --role ROLE`, `user list`, `user remove NAME` or `user passwd NAME`")
	}
	verb := args[0]
	var (
		c         common
		role      string
		pwFromStd bool
	)
	fs := newFlags("user "+verb, &c, env)
	if verb == "add" || verb == "passwd" {
		fs.BoolVar(&pwFromStd, "password-stdin", false, "read the password from the first line of standard input")
	}
	if verb == "add" || verb == "passwd" {
		fs.StringVar(&role, "role", "", "read, build or admin")
	}
	max := 1
	if verb == "list" {
		max = 0
	}
	pos, err := parseArgs(fs, args[1:], max)
	if err != nil {
		return err
	}
	if verb != "list" && len(pos) != 1 {
		return usageErr("user %s: want the user's name", verb)
	}
	db, _, err := c.openState(ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()
	done := func(out map[string]any, text string) error {
		if c.json {
			writeJSON(env.Stdout, out)
		} else {
			fmt.Fprintln(env.Stdout, text)
		}
		return nil
	}
	switch verb {
	case "add":
		if role == "" {
			return usageErr("user add: --role is required")
		}
		r, err := auth.ParseRole(role)
		if err != nil {
			return accessErr(err)
		}
		pw, err := readPassword(env, pwFromStd)
		if err != nil {
			return err
		}
		if err := auth.AddUser(ctx, db, pos[0], r, pw, 0); err != nil {
			return accessErr(err)
		}
		recordLocal(ctx, db, env, auth.ActionUserAdd, pos[0], map[string]any{"role": r.String(), "via": "cli"})
		return done(map[string]any{"name": pos[0], "role": r.String()}, fmt.Sprintf("added user %s (role %s)", pos[0], r))
	case "passwd":
		r := auth.RoleNone
		if role != "" {
			if r, err = auth.ParseRole(role); err != nil {
				return accessErr(err)
			}
		}
		if _, err := db.User(ctx, pos[0]); err != nil {
			return accessErr(err)
		}
		pw, err := readPassword(env, pwFromStd)
		if err != nil {
			return err
		}
		if err := auth.UpdateUser(ctx, db, pos[0], r, pw, 0); err != nil {
			return accessErr(err)
		}
		recordLocal(ctx, db, env, auth.ActionUserUpdate, pos[0], map[string]any{"password_changed": true, "role": role, "via": "cli"})
		return done(map[string]any{"name": pos[0], "updated": true}, fmt.Sprintf("changed the password of %s; its sessions must log in again", pos[0]))
	case "remove":
		if err := db.DeleteUser(ctx, pos[0]); err != nil {
			return accessErr(err)
		}
		recordLocal(ctx, db, env, auth.ActionUserRemove, pos[0], map[string]any{"via": "cli"})
		return done(map[string]any{"name": pos[0], "removed": true}, "removed user "+pos[0])
	case "list":
		users, err := db.Users(ctx)
		if err != nil {
			return err
		}
		if c.json {
			writeJSON(env.Stdout, map[string]any{"users": users})
			return nil
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tUPDATED")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, u.Role, fmtTime(u.CreatedAt), fmtTime(u.UpdatedAt))
		}
		return tw.Flush()
	}
	return usageErr("user: unknown verb %q: want add, list, remove or passwd", verb)
}

// cmdAudit runs `audit export|prune`.
func cmdAudit(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || (args[0] != "export" && args[0] != "prune") {
		return usageErr("audit: want `audit export [filters]` or `audit prune [--days N]`")
	}
	verb := args[0]
	var (
		c                       common
		q                       state.AuditQuery
		since, until, output    string
		days                    int
		actor, action, outcome  string
		search                  string
		defaultDaysFromSettings = -1
	)
	fs := newFlags("audit "+verb, &c, env)
	if verb == "export" {
		fs.StringVar(&actor, "actor", "", "only this actor (a user, or key:ID)")
		fs.StringVar(&action, "action", "", "only this action (build.* for a family)")
		fs.StringVar(&outcome, "outcome", "", "allowed or denied")
		fs.StringVar(&search, "q", "", "text search")
		fs.StringVar(&since, "since", "", "from this RFC 3339 time")
		fs.StringVar(&until, "until", "", "up to this RFC 3339 time")
		fs.StringVar(&output, "output", "", "write to this file instead of standard output")
	} else {
		fs.IntVar(&days, "days", defaultDaysFromSettings, "delete entries older than this many days (default: the retention setting)")
	}
	if _, err := parseArgs(fs, args[1:], 0); err != nil {
		return err
	}
	db, root, err := c.openState(ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()
	if verb == "prune" {
		if days == defaultDaysFromSettings {
			st, err := auth.LoadSettings(filepath.Join(root, ".buildnet", auth.SettingsFile))
			if err != nil {
				return err
			}
			days = st.AuditRetentionDays
		}
		if days <= 0 {
			return usageErr("audit prune: the retention is off (0 days): pass --days N")
		}
		before := time.Now().Add(-time.Duration(days) * 24 * time.Hour)
		n, err := db.PruneAudit(ctx, before)
		if err != nil {
			return err
		}
		recordLocal(ctx, db, env, auth.ActionAuditPrune, "", map[string]any{"deleted": n, "days": days, "via": "cli"})
		if c.json {
			writeJSON(env.Stdout, map[string]any{"deleted": n, "before": before.UTC()})
			return nil
		}
		fmt.Fprintf(env.Stdout, "deleted %d audit entries older than %d days\n", n, days)
		return nil
	}
	q = state.AuditQuery{Actor: actor, Action: action, Outcome: outcome, Search: search}
	for _, p := range []struct {
		v   string
		dst *time.Time
		n   string
	}{{since, &q.Since, "since"}, {until, &q.Until, "until"}} {
		if p.v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, p.v)
		if err != nil {
			return usageErr("audit export: --%s %q: want an RFC 3339 time", p.n, p.v)
		}
		*p.dst = t
	}
	w := env.Stdout
	if output != "" {
		f, err := os.Create(output)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriter(w)
	if err := auth.ExportNDJSON(ctx, db, q, bw); err != nil {
		return err
	}
	return bw.Flush()
}
