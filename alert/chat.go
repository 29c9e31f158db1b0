package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/musclemap/buildnet/buildnet"
)

// ChatConfig configures a "slack" or "discord" channel: a message posted
// to an incoming webhook.
type ChatConfig struct {
	ChannelCommon
	// URLEnv names an environment variable holding the incoming-webhook
	// URL, which is a secret. Required.
	URLEnv string `json:"url_env"`
	// Username overrides the name the message is posted under (Discord).
	Username string `json:"username,omitempty"`
}

// Chat is a "slack" or "discord" channel. It is safe for concurrent use.
type Chat struct {
	kind     string
	url      string
	name     string
	username string
	client   *http.Client
}

var _ buildnet.Notifier = (*Chat)(nil)

func newChatFactory(kind string) buildnet.NotifierFactory {
	return func(config json.RawMessage, getenv func(string) string) (buildnet.Notifier, error) {
		var c ChatConfig
		if err := decodeStrict(config, &c); err != nil {
			return nil, fmt.Errorf("%s channel: %w", kind, err)
		}
		if kind == TypeSlack && c.Username != "" {
			return nil, fmt.Errorf("%s channel: username: not supported by Slack incoming webhooks", kind)
		}
		u, name, err := channelURL("", c.URLEnv, getenv, false)
		if err != nil {
			return nil, fmt.Errorf("%s channel: %w", kind, err)
		}
		return &Chat{kind: kind, url: u, name: name, username: c.Username, client: newHTTPClient()}, nil
	}
}

// NewSlack makes a "slack" channel from its configuration ([ChatConfig]).
func NewSlack(config json.RawMessage, getenv func(string) string) (buildnet.Notifier, error) {
	return newChatFactory(TypeSlack)(config, getenv)
}

// NewDiscord makes a "discord" channel from its configuration
// ([ChatConfig]).
func NewDiscord(config json.RawMessage, getenv func(string) string) (buildnet.Notifier, error) {
	return newChatFactory(TypeDiscord)(config, getenv)
}

// Notify posts n in the channel's message format.
func (c *Chat) Notify(ctx context.Context, n buildnet.Notification) error {
	var msg any
	if c.kind == TypeSlack {
		msg = SlackMessage(n)
	} else {
		msg = DiscordMessage(n, c.username)
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encode %s message: %w", c.kind, err)
	}
	return post(ctx, c.client, c.url, c.name, body, nil)
}

// shownFields returns n's fields worth showing people, sorted by key.
func shownFields(n buildnet.Notification) []string {
	keys := slices.Sorted(maps.Keys(n.Fields))
	return slices.DeleteFunc(keys, func(k string) bool {
		return k == FieldAlertID || k == FieldTime || n.Fields[k] == ""
	})
}

// SlackMessage renders n in the Slack incoming-webhook format: a plain
// text fallback and Block Kit blocks.
func SlackMessage(n buildnet.Notification) map[string]any {
	esc := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	blocks := []any{
		map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": truncate(n.Title, 150), "emoji": true}},
	}
	if n.Text != "" {
		blocks = append(blocks, map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": truncate(esc.Replace(n.Text), 3000)}})
	}
	var fields []any
	for _, k := range shownFields(n) {
		if len(fields) == 10 { // Slack's limit per section
			break
		}
		fields = append(fields, map[string]any{"type": "mrkdwn", "text": truncate("*"+esc.Replace(k)+"*\n"+esc.Replace(n.Fields[k]), 2000)})
	}
	if len(fields) > 0 {
		blocks = append(blocks, map[string]any{"type": "section", "fields": fields})
	}
	text := n.Title
	if n.Text != "" {
		text += "\n" + n.Text
	}
	return map[string]any{"text": truncate(esc.Replace(text), 3000), "blocks": blocks}
}

// Colours of Discord embeds, by notification kind.
const (
	colourRed    = 0xD93F0B
	colourOrange = 0xF39C12
)

// DiscordMessage renders n in the Discord incoming-webhook format: one
// embed with the fields. username may be empty.
func DiscordMessage(n buildnet.Notification, username string) map[string]any {
	colour := colourOrange
	if n.Kind == string(RuleBuildFailed) || n.Kind == string(RuleRepeatedFailures) {
		colour = colourRed
	}
	embed := map[string]any{
		"title":       truncate(n.Title, 256),
		"description": truncate(n.Text, 4096),
		"color":       colour,
	}
	if t, err := time.Parse(time.RFC3339Nano, n.Fields[FieldTime]); err == nil {
		embed["timestamp"] = t.UTC().Format(time.RFC3339)
	}
	var fields []any
	for _, k := range shownFields(n) {
		if len(fields) == 25 { // Discord's limit per embed
			break
		}
		fields = append(fields, map[string]any{"name": truncate(k, 256), "value": truncate(n.Fields[k], 1024), "inline": len(n.Fields[k]) < 40})
	}
	if len(fields) > 0 {
		embed["fields"] = fields
	}
	msg := map[string]any{"embeds": []any{embed}, "allowed_mentions": map[string]any{"parse": []string{}}}
	if username != "" {
		msg["username"] = username
	}
	return msg
}

// truncate cuts s to at most n runes, marking the cut with an ellipsis.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
