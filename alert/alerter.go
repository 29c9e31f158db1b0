package alert

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/cache"
)

// Defaults of [Config].
const (
	DefaultHistory   = 200
	DefaultQueueSize = 100
)

// Options are what an [Alerter] needs besides its [Config]. Zero values
// mean the defaults.
type Options struct {
	// Engine, when set, is what [Alerter.Run] watches, and the default
	// source of Packages and CacheStats.
	Engine *buildnet.Engine
	// Registry makes the channels; nil means a registry holding the
	// built-in channel types only ([RegisterChannels]).
	Registry *buildnet.Registry
	// Getenv reads the environment variables that channel configurations
	// name (secrets, URLs); nil means none is set.
	Getenv func(string) string
	// Logger receives delivery failures and drops; nil discards them.
	Logger *slog.Logger
	// Packages resolves a rule's package filters into package names; nil
	// means the Engine's workspace and graph ([buildnet.SelectFilters]),
	// or, without an Engine, filters are plain package names.
	Packages func(filters []string) ([]string, error)
	// CacheStats reports the cache size for cache_size rules; nil means
	// the Engine's.
	CacheStats func(ctx context.Context) (cache.Stats, error)
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// DeliveryStatus is where one alert's delivery to one channel stands.
type DeliveryStatus string

// Delivery statuses.
const (
	DeliveryPending   DeliveryStatus = "pending"   // queued, or waiting to retry
	DeliveryDelivered DeliveryStatus = "delivered" // the channel took it
	DeliveryFailed    DeliveryStatus = "failed"    // every attempt failed
	DeliveryDropped   DeliveryStatus = "dropped"   // the queue was full, or the alerter closed
)

// Delivery is the outcome of sending one alert to one channel.
type Delivery struct {
	Channel  string         `json:"channel"`
	Status   DeliveryStatus `json:"status"`
	Attempts int            `json:"attempts"`
	// Error is the last attempt's error, secrets removed.
	Error     string    `json:"error,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Record is one alert that fired, with its deliveries.
type Record struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	Rule string    `json:"rule"`
	buildnet.Notification
	Deliveries []Delivery `json:"deliveries"`
}

func (r *Record) clone() Record {
	c := *r
	c.Fields = maps.Clone(r.Fields)
	c.Deliveries = slices.Clone(r.Deliveries)
	return c
}

// RuleStats counts one rule's alerts.
type RuleStats struct {
	Name  string   `json:"name"`
	Type  RuleType `json:"type"`
	Fired int64    `json:"fired"`
}

// ChannelStats counts one channel's deliveries.
type ChannelStats struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Delivered, Failed and Dropped count alerts by outcome.
	Delivered int64 `json:"delivered"`
	Failed    int64 `json:"failed"`
	Dropped   int64 `json:"dropped"`
	// Attempts counts every try, and AttemptErrors the failed ones
	// (retried or not).
	Attempts      int64 `json:"attempts"`
	AttemptErrors int64 `json:"attempt_errors"`
	// Queued is how many alerts wait for the channel now.
	Queued int `json:"queued"`
}

// Stats are an [Alerter]'s counters since it was made.
type Stats struct {
	Rules    []RuleStats    `json:"rules"`
	Channels []ChannelStats `json:"channels"`
	// LastSeq is the sequence number of the last event evaluated.
	LastSeq uint64 `json:"last_seq"`
}

// Alerter evaluates alert rules against engine events and delivers the
// alerts. It is safe for concurrent use. Close releases it.
type Alerter struct {
	cfg    Config
	rules  []Rule
	opts   Options
	log    *slog.Logger
	redact *redactor
	chans  map[string]*channel
	now    func() time.Time

	ctx    context.Context // ends on Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu guards everything below.
	mu      sync.Mutex
	closed  bool
	history []*Record // oldest first, at most cfg.History
	fired   map[string]int64
	lastSeq uint64
	state   ruleState
}

// New makes an alerter for cfg. It makes every channel, so that a bad
// channel configuration or a missing secret is an error now rather than
// at the first alert, and starts one delivery worker per channel.
func New(cfg Config, opts Options) (*Alerter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.History == 0 {
		cfg.History = DefaultHistory
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Registry == nil {
		opts.Registry = buildnet.NewRegistry()
		if err := RegisterChannels(opts.Registry); err != nil {
			return nil, err
		}
	}
	if opts.Packages == nil {
		opts.Packages = enginePackages(opts.Engine)
	}
	if opts.CacheStats == nil && opts.Engine != nil {
		opts.CacheStats = opts.Engine.CacheStats
	}
	a := &Alerter{
		cfg: cfg, opts: opts, log: opts.Logger, redact: &redactor{}, now: opts.Now,
		chans: map[string]*channel{}, fired: map[string]int64{}, state: newRuleState(),
	}
	for _, r := range cfg.Rules {
		a.rules = append(a.rules, r.withDefaults())
	}
	getenv := a.redact.getenv(opts.Getenv)
	for _, name := range cfg.channelNames() {
		raw := cfg.Channels[name]
		var common ChannelCommon
		if err := json.Unmarshal(raw, &common); err != nil {
			return nil, &ConfigError{Field: "channels." + name, Msg: err.Error(), Err: err}
		}
		factory, err := opts.Registry.Notifier(common.Type)
		if err != nil {
			return nil, &ConfigError{Field: "channels." + name + ".type", Msg: err.Error(), Err: err}
		}
		n, err := factory(raw, getenv)
		if err != nil {
			err = a.redact.error(err)
			return nil, &ConfigError{Field: "channels." + name, Msg: err.Error(), Err: err}
		}
		a.chans[name] = &channel{name: name, typ: common.Type, common: common, n: n, queue: make(chan *job, cfg.QueueSize)}
	}
	if err := a.CheckPackages(); err != nil {
		return nil, err
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	for _, ch := range a.chans {
		a.wg.Go(func() { a.deliver(ch) })
	}
	return a, nil
}

// enginePackages resolves filters against e's current configuration.
func enginePackages(e *buildnet.Engine) func([]string) ([]string, error) {
	if e == nil {
		return func(filters []string) ([]string, error) { return filters, nil }
	}
	return func(filters []string) ([]string, error) {
		ws := e.Workspace()
		return buildnet.SelectFilters(&ws, e.Graph(), filters)
	}
}

// Rules returns the rules, defaults filled in.
func (a *Alerter) Rules() []Rule { return slices.Clone(a.rules) }

// Close stops delivering: an attempt in progress is interrupted, and
// alerts still queued are recorded as dropped. It waits for the workers.
func (a *Alerter) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	a.mu.Unlock()
	a.cancel()
	a.wg.Wait()
	for _, ch := range a.chans {
		for {
			select {
			case j := <-ch.queue:
				a.finish(ch, j, DeliveryDropped, "alerter closed")
				continue
			default:
			}
			break
		}
	}
	return nil
}

// Run feeds the Engine's events to [Alerter.Observe] until ctx ends or
// the engine closes. A subscription dropped for being slow is renewed
// (and logged). Without rules it only waits.
func (a *Alerter) Run(ctx context.Context) error {
	e := a.opts.Engine
	if e == nil {
		return errors.New("run alerter: no engine in Options")
	}
	if len(a.rules) == 0 {
		<-ctx.Done()
		return nil
	}
	for {
		sub, stop := subscribe(ctx, e)
		for ev := range sub.Events() {
			a.Observe(ctx, ev)
		}
		stop()
		if ctx.Err() != nil || !errors.Is(sub.Err(), buildnet.ErrSlowSubscriber) {
			return nil
		}
		a.log.Warn("alerter fell behind the engine's events; some builds may not be judged", "err", sub.Err())
	}
}

// History returns the alerts kept, newest first.
func (a *Alerter) History() []Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Record, 0, len(a.history))
	for i := len(a.history) - 1; i >= 0; i-- {
		out = append(out, a.history[i].clone())
	}
	return out
}

// Stats returns the counters, rules and channels sorted by name.
func (a *Alerter) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := Stats{LastSeq: a.lastSeq}
	for _, r := range a.rules {
		s.Rules = append(s.Rules, RuleStats{Name: r.Name, Type: r.Type, Fired: a.fired[r.Name]})
	}
	slices.SortFunc(s.Rules, func(x, y RuleStats) int { return cmpString(x.Name, y.Name) })
	for _, name := range a.cfg.channelNames() {
		ch := a.chans[name]
		cs := ch.stats
		cs.Name, cs.Type, cs.Queued = name, ch.typ, len(ch.queue)
		s.Channels = append(s.Channels, cs)
	}
	return s
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Observe evaluates the rules against one engine event. It never waits
// for a delivery; a cache_size rule reads the cache's size after each
// build, which scans the cache directory.
func (a *Alerter) Observe(ctx context.Context, ev buildnet.Event) {
	for _, al := range a.evaluate(ctx, ev) {
		a.fire(al)
	}
	a.mu.Lock()
	a.lastSeq = max(a.lastSeq, ev.Seq)
	a.mu.Unlock()
}

// alert is a rule's verdict before it is recorded.
type alert struct {
	rule Rule
	n    buildnet.Notification
}

// fire records al and queues it for each of its rule's channels.
func (a *Alerter) fire(al alert) {
	now := a.now()
	rec := &Record{ID: newID(), Time: now, Rule: al.rule.Name, Notification: al.n}
	if rec.Fields == nil {
		rec.Fields = map[string]string{}
	}
	rec.Kind = string(al.rule.Type)
	rec.Fields[FieldRule] = al.rule.Name
	rec.Fields[FieldAlertID] = rec.ID
	rec.Fields[FieldTime] = now.UTC().Format(time.RFC3339Nano)
	targets := al.rule.Channels
	if len(targets) == 0 {
		targets = a.cfg.channelNames()
	}
	for _, name := range targets {
		rec.Deliveries = append(rec.Deliveries, Delivery{Channel: name, Status: DeliveryPending, UpdatedAt: now})
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.fired[al.rule.Name]++
	a.history = append(a.history, rec)
	if over := len(a.history) - a.cfg.History; over > 0 {
		a.history = slices.Delete(a.history, 0, over)
	}
	// Queued under the lock, so that Close, once it has set closed, finds
	// every job queued.
	var full []string
	for i, name := range targets {
		ch := a.chans[name]
		j := &job{rec: rec, idx: i, n: rec.Notification}
		j.n.Fields = maps.Clone(rec.Fields)
		select {
		case ch.queue <- j:
		default:
			d := &rec.Deliveries[i]
			d.Status, d.Error = DeliveryDropped, "channel queue full"
			ch.stats.Dropped++
			full = append(full, name)
		}
	}
	a.mu.Unlock()
	a.log.Info("alert", "rule", rec.Rule, "kind", rec.Kind, "title", rec.Title, "alert_id", rec.ID, "channels", targets)
	for _, name := range full {
		a.log.Warn("alert dropped: channel queue full", "channel", name, "rule", rec.Rule, "alert_id", rec.ID, "queue_size", cap(a.chans[name].queue))
	}
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// describe formats a duration in milliseconds for people.
func describe(ms int64) string {
	return (time.Duration(ms) * time.Millisecond).String()
}

// plural returns word, with an s unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// subscribe subscribes to e's events until ctx ends.
//
// The engine finishes setting a subscription up after releasing its
// locks, so a subscription made on another goroutine than the one closing
// the engine (or ending ctx) races with it. The subscription is therefore
// not bound to ctx but closed when ctx ends, and sub.Err, which takes the
// subscription's lock, orders the set-up before any later close.
func subscribe(ctx context.Context, e *buildnet.Engine) (*buildnet.Subscription, func() bool) {
	sub := e.Subscribe(context.Background(), 4096)
	_ = sub.Err()
	return sub, context.AfterFunc(ctx, sub.Close)
}
