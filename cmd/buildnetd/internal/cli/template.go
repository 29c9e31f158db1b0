package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/template"
)

// sets is a repeatable --set key=value flag.
type sets map[string]string

func (s sets) String() string { return fmt.Sprint(map[string]string(s)) }

func (s sets) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", v)
	}
	s[k] = val
	return nil
}

func cmdTemplate(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "apply") {
		return usageErr("template: want `template list` or `template apply NAME --set key=value ...`")
	}
	if args[0] == "list" {
		return templateList(ctx, args[1:], env)
	}
	return templateApply(ctx, args[1:], env)
}

func templateList(ctx context.Context, args []string, env Env) error {
	var c common
	fs := newFlags("template list", &c, env)
	if err := parse(fs, args); err != nil {
		return err
	}
	root, err := c.workspace(env)
	if err != nil {
		return err
	}
	ts, err := template.Load(ctx, root)
	if err != nil {
		return &Error{Code: "invalid_template", Exit: 2, Message: err.Error()}
	}
	if c.json {
		writeJSON(env.Stdout, map[string]any{"templates": ts})
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TEMPLATE\tPARAMS\tSOURCE\tDESCRIPTION")
	for _, t := range ts {
		var ps []string
		for _, p := range t.Params {
			if p.Required {
				ps = append(ps, p.Name)
			} else {
				ps = append(ps, p.Name+"="+p.Default)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, strings.Join(ps, " "), t.Source, t.Description)
	}
	return tw.Flush()
}

func templateApply(ctx context.Context, args []string, env Env) error {
	var c common
	values := sets{}
	fs := newFlags("template apply", &c, env)
	fs.Var(values, "set", "a template value, key=value (repeatable)")
	name, rest, err := positional(args, "template apply NAME --set key=value ...")
	if err != nil {
		return err
	}
	if err := parse(fs, rest); err != nil {
		return err
	}
	root, err := c.workspace(env)
	if err != nil {
		return err
	}
	var added []string
	if cl := c.daemon(ctx, root); cl != nil {
		// The daemon applies it, so it reloads at once and audits it.
		var out struct {
			Change buildnet.ConfigChange `json:"change"`
		}
		if err := cl.do(ctx, http.MethodPost, "/templates/"+url.PathEscape(name)+"/apply", map[string]any{"values": values}, &out); err != nil {
			return err
		}
		added = out.Change.Added
	} else {
		ts, err := template.Load(ctx, root)
		if err != nil {
			return &Error{Code: "invalid_template", Exit: 2, Message: err.Error()}
		}
		t, err := template.Find(ts, name)
		if err != nil {
			return &Error{Code: "not_found", Exit: 2, Message: err.Error()}
		}
		ws, err := buildnet.LoadWorkspace(root)
		if err != nil {
			return err
		}
		next, err := template.ApplyToWorkspace(ws, root, t, values)
		if err != nil {
			return &Error{Code: "invalid_template", Exit: 2, Message: err.Error()}
		}
		if err := buildnet.SaveWorkspace(root, next); err != nil {
			return err
		}
		for _, p := range next.Packages[len(ws.Packages):] {
			added = append(added, p.Name)
		}
	}
	if c.json {
		writeJSON(env.Stdout, map[string]any{"template": name, "added": added})
		return nil
	}
	fmt.Fprintf(env.Stdout, "added %s from template %s to %s\n", strings.Join(added, ", "), name, buildnet.ConfigFile)
	return nil
}
