package alert_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/alert"
	"github.com/musclemap/buildnet/buildnet"
)

func TestBuildFailedRule(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	w := newWorkspace(t)
	cfg := fmt.Sprintf(`{
		"rules": [
			{"name": "any", "type": "build_failed"},
			{"name": "api-branch", "type": "build_failed", "packages": ["api..."]},
			{"name": "web-only", "type": "build_failed", "packages": ["web"]}
		],
		"channels": {"hook": {"type": "webhook", "url": %q, "secret_env": "HOOK_SECRET"}}
	}`, rc.srv.URL+"/hook")
	const secret = "s3cret-hmac-key"
	e, a := setup(t, w, cfg, env{"HOOK_SECRET": secret}, nil)

	// Each step: which packages fail, and the rules that must fire.
	steps := []struct {
		failing []string
		fire    []string
	}{
		{nil, nil},
		{[]string{"docs"}, []string{"any"}},
		{[]string{"base"}, []string{"any", "api-branch"}}, // web is skipped, not failed
		{[]string{"web"}, []string{"any", "web-only"}},
		{[]string{"api"}, []string{"any", "api-branch"}},
		{nil, nil},
	}
	var want []string
	for i, st := range steps {
		w.Failing(st.failing...)
		res := build(t, e, a)
		if len(st.failing) == 0 {
			require.Equal(t, buildnet.StatusSuccess, res.Status, "step %d", i)
		} else {
			require.Equal(t, buildnet.StatusFailed, res.Status, "step %d", i)
		}
		want = append(want, st.fire...)
		assert.Equal(t, want, rules(a.History()), "after step %d", i)
	}
	recs := delivered(t, a)
	got := rc.got()
	require.Len(t, got, len(want), "one request per alert")
	byID := map[string]alert.Record{}
	for _, r := range recs {
		byID[r.ID] = r
		require.Len(t, r.Deliveries, 1)
		assert.Equal(t, alert.DeliveryDelivered, r.Deliveries[0].Status)
		assert.Equal(t, 1, r.Deliveries[0].Attempts)
	}
	for _, req := range got {
		assert.True(t, alert.VerifySignature([]byte(secret), req.Body, req.Header.Get(alert.HeaderSignature)), "signature of %s", req.Body)
		assert.False(t, alert.VerifySignature([]byte("other key"), req.Body, req.Header.Get(alert.HeaderSignature)))
		assert.Equal(t, "build_failed", req.Header.Get(alert.HeaderEvent))
		assert.Equal(t, "application/json", req.Header.Get("Content-Type"))
		var p alert.Payload
		require.NoError(t, json.Unmarshal(req.Body, &p))
		rec, ok := byID[p.ID]
		require.True(t, ok, "payload id %q names an alert", p.ID)
		assert.Equal(t, p.ID, req.Header.Get(alert.HeaderDelivery))
		assert.Equal(t, rec.Rule, p.Rule)
		assert.Equal(t, "build_failed", p.Kind)
		assert.NotEmpty(t, p.BuildID)
		assert.Equal(t, "tester", p.Fields["requester"])
		assert.WithinDuration(t, rec.Time, p.Time, time.Millisecond)
	}
	// The base failure names base for the api-branch rule, with its error.
	for _, r := range recs {
		if r.Rule == "api-branch" && r.Fields["failed"] == "base" {
			assert.Equal(t, "Build failed: base", r.Title)
			assert.Contains(t, r.Text, "base: ")
			assert.Contains(t, r.Text, "skipped because a dependency failed")
			return
		}
	}
	t.Fatal("no api-branch alert for the base failure")
}

func TestRepeatedFailuresRule(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	w := newWorkspace(t)
	cfg := fmt.Sprintf(`{
		"rules": [{"name": "flaky-api", "type": "repeated_failures", "count": 2, "packages": ["api"]}],
		"channels": {"hook": {"type": "webhook", "url": %q}}
	}`, rc.srv.URL)
	e, a := setup(t, w, cfg, nil, nil)
	// api fails, fails (fire), fails, succeeds, fails, fails (fire);
	// docs failing in a row never fires: the rule is for api only.
	seq := []bool{true, true, true, false, true, true}
	fired := []int{0, 1, 1, 1, 1, 2}
	for i, fail := range seq {
		if fail {
			w.Failing("api", "docs")
		} else {
			w.Failing("docs")
		}
		build(t, e, a)
		require.Len(t, a.History(), fired[i], "after build %d", i)
	}
	recs := delivered(t, a)
	require.Len(t, rc.got(), 2)
	for _, r := range recs {
		assert.Equal(t, "api failed 2 builds in a row", r.Title)
		assert.Equal(t, "api", r.Package)
		assert.Equal(t, "2", r.Fields["failures"])
		assert.Contains(t, r.Text, "exited with status 3")
	}
}

func TestCacheSizeRule(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	w := newWorkspace(t)
	cfg := fmt.Sprintf(`{
		"rules": [
			{"name": "cache-tiny", "type": "cache_size", "threshold": 1},
			{"name": "cache-huge", "type": "cache_size", "threshold": "1TB"}
		],
		"channels": {"hook": {"type": "webhook", "url": %q}}
	}`, rc.srv.URL)
	e, a := setup(t, w, cfg, nil, nil)
	build(t, e, a)
	require.Equal(t, []string{"cache-tiny"}, rules(a.History()), "fires when the cache grows past the threshold")
	build(t, e, a)
	require.Len(t, a.History(), 1, "does not fire again while the cache stays over")
	require.NoError(t, e.ClearCache(t.Context()))
	settle(t, e, a)
	require.Len(t, a.History(), 1, "a cleared cache is under the threshold")
	build(t, e, a)
	require.Equal(t, []string{"cache-tiny", "cache-tiny"}, rules(a.History()), "fires again after going under")
	recs := delivered(t, a)
	assert.Len(t, rc.got(), 2)
	st, err := e.CacheStats(t.Context())
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprint(st.Bytes), recs[0].Fields["bytes"])
	assert.Equal(t, "1", recs[0].Fields["threshold_bytes"])
}

// completion is a package:complete event.
func completion(pkg string, tier buildnet.Tier, status buildnet.Status, ms int64) buildnet.Event {
	return buildnet.Event{Type: buildnet.EventPackageComplete, BuildID: "b1", Package: pkg, Tier: tier, Status: status, DurationMs: &ms}
}

func TestSlowPackageRule(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	c, err := alert.ParseConfig(json.RawMessage(fmt.Sprintf(`{
		"rules": [
			{"name": "slow", "type": "slow_package", "factor": 2, "window": 4, "min_samples": 3, "min_duration": "50ms"},
			{"name": "slow-restore", "type": "slow_package", "factor": 3, "window": 3, "min_samples": 3, "tiers": ["cache_restore"], "packages": ["web"]}
		],
		"channels": {"hook": {"type": "webhook", "url": %q}}
	}`, rc.srv.URL)))
	require.NoError(t, err)
	a, err := alert.New(*c, alert.Options{})
	require.NoError(t, err)
	defer a.Close()
	full, restore := buildnet.TierFullBuild, buildnet.TierCacheRestore
	ok, failed := buildnet.StatusSuccess, buildnet.StatusFailed
	steps := []struct {
		ev   buildnet.Event
		fire string
	}{
		{completion("api", full, ok, 100), ""},
		{completion("api", full, ok, 100), ""},
		{completion("api", full, ok, 1000), ""}, // only 2 samples before it
		{completion("api", full, ok, 200), ""},  // median of 100,100,1000 is 100: 200 is not above 2x
		{completion("api", full, ok, 401), ""},  // window 100,100,1000,200: median 150, 401 > 300
		{completion("api", full, failed, 9000), ""},
		{completion("api", restore, ok, 9000), ""}, // another tier, not watched for api
		{completion("web", full, ok, 10), ""},
		{completion("web", full, ok, 10), ""},
		{completion("web", full, ok, 10), ""},
		{completion("web", full, ok, 45), ""}, // 4.5x, but under min_duration
		{completion("web", restore, ok, 10), ""},
		{completion("web", restore, ok, 10), ""},
		{completion("web", restore, ok, 20), ""},
		{completion("web", restore, ok, 31), ""}, // median 10, 31 > 30
		{completion("web", full, ok, 60), ""},    // window 10,10,10,45: median 10, 60 > 20 and over 50ms
	}
	steps[4].fire, steps[14].fire, steps[15].fire = "slow", "slow-restore", "slow"
	var want []string
	for i, st := range steps {
		a.Observe(t.Context(), st.ev)
		if st.fire != "" {
			want = append(want, st.fire)
		}
		require.Equal(t, want, rules(a.History()), "after step %d", i)
	}
	recs := delivered(t, a)
	require.Len(t, rc.got(), 3)
	last := recs[0]
	assert.Equal(t, "web took 60ms, 6.0× its median of 10ms", last.Title)
	assert.Equal(t, "60", last.Fields["duration_ms"])
	assert.Equal(t, "10", last.Fields["median_ms"])
	assert.Equal(t, "4", last.Fields["samples"])
}

func TestDeliveryRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	// Down twice (503, then 429), then up.
	rc := newReceiver(t, func(n int) int { return map[int]int{1: 503, 2: 429}[n] })
	var logs safeBuffer
	c, err := alert.ParseConfig(json.RawMessage(fmt.Sprintf(`{
		"rules": [{"name": "any", "type": "build_failed"}],
		"channels": {"hook": {"type": "webhook", "url": %q, "retries": 3, "backoff": "1ms"}}
	}`, rc.srv.URL)))
	require.NoError(t, err)
	a, err := alert.New(*c, alert.Options{Logger: newLogger(&logs)})
	require.NoError(t, err)
	defer a.Close()
	a.Observe(t.Context(), failedBuild("b1"))
	recs := delivered(t, a)
	require.Len(t, recs, 1)
	d := recs[0].Deliveries[0]
	assert.Equal(t, alert.DeliveryDelivered, d.Status)
	assert.Equal(t, 3, d.Attempts)
	assert.Empty(t, d.Error)
	assert.Len(t, rc.got(), 1)
	st := a.Stats().Channels[0]
	assert.Equal(t, alert.ChannelStats{Name: "hook", Type: "webhook", Delivered: 1, Attempts: 3, AttemptErrors: 2}, st)
	assert.Equal(t, 2, strings.Count(logs.String(), "alert delivery failed"), logs.String())
	assert.Contains(t, logs.String(), "HTTP 503")
}

func TestPermanentErrorNotRetried(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(int) int { return 400 })
	c, err := alert.ParseConfig(json.RawMessage(fmt.Sprintf(`{
		"rules": [{"name": "any", "type": "build_failed"}],
		"channels": {"hook": {"type": "webhook", "url": %q, "retries": 5, "backoff": "1ms"}}
	}`, rc.srv.URL)))
	require.NoError(t, err)
	a, err := alert.New(*c, alert.Options{})
	require.NoError(t, err)
	defer a.Close()
	a.Observe(t.Context(), failedBuild("b1"))
	d := delivered(t, a)[0].Deliveries[0]
	assert.Equal(t, alert.DeliveryFailed, d.Status)
	assert.Equal(t, 1, d.Attempts)
	assert.Contains(t, d.Error, "HTTP 400")
	assert.Equal(t, 1, rc.arrivals())
}

func TestDownReceiverDoesNotDelayBuilds(t *testing.T) {
	t.Parallel()
	hung := newReceiver(t, nil)
	hung.holdAll()
	down := newReceiver(t, nil)
	downURL := down.srv.URL
	down.srv.Close() // nothing listens there any more
	var logs safeBuffer
	w := newWorkspace(t)
	cfg := fmt.Sprintf(`{
		"rules": [{"name": "any", "type": "build_failed"}],
		"channels": {
			"hung": {"type": "webhook", "url": %q, "timeout": "1m", "retries": 0},
			"down": {"type": "webhook", "url": %q, "retries": 2, "backoff": "1ms"}
		}
	}`, hung.srv.URL, downURL)
	e, a := setup(t, w, cfg, nil, &logs)
	w.Failing("docs")
	build(t, e, a)
	require.Eventually(t, func() bool { return hung.arrivals() == 1 }, 10*time.Second, time.Millisecond)
	// The first alert's delivery hangs; builds go on, and their alerts
	// queue up behind it.
	for range 3 {
		res := build(t, e, a)
		require.Equal(t, buildnet.StatusFailed, res.Status)
	}
	require.Len(t, a.History(), 4)
	assert.Equal(t, 1, hung.arrivals(), "the hung channel delivers one alert at a time")
	for _, r := range a.History() {
		assert.Equal(t, alert.DeliveryPending, r.Deliveries[1].Status, "hung is pending")
	}
	require.Eventually(t, func() bool {
		for _, r := range a.History() {
			if r.Deliveries[0].Status != alert.DeliveryFailed {
				return false
			}
		}
		return true
	}, 20*time.Second, time.Millisecond, "the down channel fails each alert after its retries, unaffected by the hung one")
	for _, r := range a.History() {
		assert.Equal(t, 3, r.Deliveries[0].Attempts)
		assert.Contains(t, r.Deliveries[0].Error, "connection refused")
	}
	st := a.Stats()
	assert.Equal(t, int64(4), st.Channels[0].Failed)
	assert.Equal(t, int64(12), st.Channels[0].AttemptErrors)
	assert.Equal(t, 12, strings.Count(logs.String(), "alert delivery failed"))
	hung.release()
	recs := delivered(t, a)
	for _, r := range recs {
		assert.Equal(t, alert.DeliveryDelivered, r.Deliveries[1].Status)
	}
	assert.Len(t, hung.got(), 4)
}

func TestQueueFullDrops(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	rc.holdAll()
	var logs safeBuffer
	c, err := alert.ParseConfig(json.RawMessage(fmt.Sprintf(`{
		"rules": [{"name": "any", "type": "build_failed"}],
		"channels": {"hook": {"type": "webhook", "url": %q}},
		"queue_size": 1
	}`, rc.srv.URL)))
	require.NoError(t, err)
	a, err := alert.New(*c, alert.Options{Logger: newLogger(&logs)})
	require.NoError(t, err)
	defer a.Close()
	a.Observe(t.Context(), failedBuild("b1"))
	require.Eventually(t, func() bool { return rc.arrivals() == 1 }, 10*time.Second, time.Millisecond)
	a.Observe(t.Context(), failedBuild("b2")) // waits in the queue
	a.Observe(t.Context(), failedBuild("b3")) // finds it full
	h := a.History()
	require.Len(t, h, 3)
	assert.Equal(t, alert.DeliveryDropped, h[0].Deliveries[0].Status)
	assert.Equal(t, "channel queue full", h[0].Deliveries[0].Error)
	assert.Contains(t, logs.String(), "alert dropped: channel queue full")
	rc.release()
	recs := delivered(t, a)
	assert.Equal(t, alert.DeliveryDelivered, recs[1].Deliveries[0].Status)
	assert.Equal(t, alert.DeliveryDelivered, recs[2].Deliveries[0].Status)
	assert.Equal(t, int64(1), a.Stats().Channels[0].Dropped)
}

func TestHistoryIsBounded(t *testing.T) {
	t.Parallel()
	c, err := alert.ParseConfig(json.RawMessage(`{"rules": [{"name": "any", "type": "build_failed"}], "history": 3}`))
	require.NoError(t, err)
	a, err := alert.New(*c, alert.Options{})
	require.NoError(t, err)
	defer a.Close()
	for i := range 5 {
		a.Observe(t.Context(), failedBuild(fmt.Sprint("b", i)))
	}
	var ids []string
	for _, r := range a.History() {
		ids = append(ids, r.BuildID)
		assert.Empty(t, r.Deliveries, "no channel configured")
	}
	assert.Equal(t, []string{"b4", "b3", "b2"}, ids)
	assert.Equal(t, int64(5), a.Stats().Rules[0].Fired)
}

func TestRuleChannelsSelectDeliveries(t *testing.T) {
	t.Parallel()
	one, two := newReceiver(t, nil), newReceiver(t, nil)
	c, err := alert.ParseConfig(json.RawMessage(fmt.Sprintf(`{
		"rules": [
			{"name": "to-one", "type": "build_failed", "channels": ["one"]},
			{"name": "to-all", "type": "build_failed"}
		],
		"channels": {"one": {"type": "webhook", "url": %q}, "two": {"type": "webhook", "url": %q}}
	}`, one.srv.URL, two.srv.URL)))
	require.NoError(t, err)
	a, err := alert.New(*c, alert.Options{})
	require.NoError(t, err)
	defer a.Close()
	a.Observe(t.Context(), failedBuild("b1"))
	a.Observe(t.Context(), buildnet.Event{Type: buildnet.EventBuildComplete, BuildID: "b2", Status: buildnet.StatusCancelled,
		Result: &buildnet.BuildResult{ID: "b2", Status: buildnet.StatusCancelled}})
	delivered(t, a)
	assert.Len(t, one.got(), 2)
	assert.Len(t, two.got(), 1)
}

func TestSlackAndDiscordFormats(t *testing.T) {
	t.Parallel()
	slack, discord := newReceiver(t, nil), newReceiver(t, nil)
	environ := env{"SLACK_URL": slack.srv.URL + "/services/T000/B000/XXXX", "DISCORD_URL": discord.srv.URL + "/api/webhooks/1/tok"}
	c, err := alert.ParseConfig(json.RawMessage(`{
		"rules": [{"name": "any", "type": "build_failed"}],
		"channels": {
			"slack": {"type": "slack", "url_env": "SLACK_URL"},
			"discord": {"type": "discord", "url_env": "DISCORD_URL", "username": "BuildNet"}
		}
	}`))
	require.NoError(t, err)
	a, err := alert.New(*c, alert.Options{Getenv: environ.get})
	require.NoError(t, err)
	defer a.Close()
	a.Observe(t.Context(), failedBuild("b1"))
	delivered(t, a)

	require.Len(t, slack.got(), 1)
	assert.Equal(t, "/services/T000/B000/XXXX", slack.got()[0].Path)
	var sm struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text struct {
				Text string `json:"text"`
			} `json:"text"`
			Fields []struct {
				Text string `json:"text"`
			} `json:"fields"`
		} `json:"blocks"`
	}
	require.NoError(t, json.Unmarshal(slack.got()[0].Body, &sm))
	assert.True(t, strings.HasPrefix(sm.Text, "Build failed: api\n"), sm.Text)
	require.Len(t, sm.Blocks, 3)
	assert.Equal(t, "header", sm.Blocks[0].Type)
	assert.Equal(t, "Build failed: api", sm.Blocks[0].Text.Text)
	assert.Contains(t, sm.Blocks[1].Text.Text, "api: exit status 3")
	var fields []string
	for _, f := range sm.Blocks[2].Fields {
		fields = append(fields, f.Text)
	}
	assert.Contains(t, fields, "*rule*\nany")
	assert.Contains(t, fields, "*build_id*\nb1")

	require.Len(t, discord.got(), 1)
	var dm struct {
		Username string `json:"username"`
		Embeds   []struct {
			Title       string `json:"title"`
			Description string `json:"description"`
			Color       int    `json:"color"`
			Timestamp   string `json:"timestamp"`
			Fields      []struct {
				Name  string `json:"name"`
				Value string `json:"value"`
			} `json:"fields"`
		} `json:"embeds"`
	}
	require.NoError(t, json.Unmarshal(discord.got()[0].Body, &dm))
	assert.Equal(t, "BuildNet", dm.Username)
	require.Len(t, dm.Embeds, 1)
	assert.Equal(t, "Build failed: api", dm.Embeds[0].Title)
	assert.Contains(t, dm.Embeds[0].Description, "api: exit status 3")
	assert.NotZero(t, dm.Embeds[0].Color)
	_, err = time.Parse(time.RFC3339, dm.Embeds[0].Timestamp)
	assert.NoError(t, err)
	names := map[string]string{}
	for _, f := range dm.Embeds[0].Fields {
		names[f.Name] = f.Value
	}
	assert.Equal(t, "b1", names["build_id"])
	assert.NotContains(t, names, alert.FieldAlertID)
}

func TestEmailChannel(t *testing.T) {
	t.Parallel()
	srv := newSMTPServer(t, 1) // the first RCPT gets a temporary failure
	const password = "smtp-p4ssword"
	c, err := alert.ParseConfig(json.RawMessage(fmt.Sprintf(`{
		"rules": [{"name": "any", "type": "build_failed"}],
		"channels": {"mail": {"type": "email", "addr": %q, "from": "BuildNet <buildnet@example.com>",
			"to": ["dev@example.com", "ops@example.com"], "username": "bot", "password_env": "SMTP_PASSWORD",
			"retries": 2, "backoff": "1ms"}}
	}`, srv.addr())))
	require.NoError(t, err)
	var logs safeBuffer
	a, err := alert.New(*c, alert.Options{Getenv: env{"SMTP_PASSWORD": password}.get, Logger: newLogger(&logs)})
	require.NoError(t, err)
	defer a.Close()
	a.Observe(t.Context(), failedBuild("b1"))
	d := delivered(t, a)[0].Deliveries[0]
	assert.Equal(t, alert.DeliveryDelivered, d.Status, d.Error)
	assert.Equal(t, 2, d.Attempts, "the temporary failure is retried")

	mails, auths := srv.received()
	require.Len(t, mails, 1)
	m := mails[0]
	assert.Equal(t, "buildnet@example.com", m.From)
	assert.Equal(t, []string{"dev@example.com", "ops@example.com"}, m.To)
	assert.Contains(t, m.Data, "Subject: [buildnet] Build failed: api\r\n")
	assert.Contains(t, m.Data, "To: dev@example.com, ops@example.com\r\n")
	assert.Contains(t, m.Data, "Content-Type: text/plain; charset=utf-8\r\n")
	assert.Contains(t, m.Data, "\r\n\r\nBuild failed: api\r\n")
	assert.Contains(t, m.Data, "api: exit status 3")
	assert.Contains(t, m.Data, "build_id: b1\r\n")
	assert.Equal(t, []string{"\x00bot\x00" + password, "\x00bot\x00" + password}, auths, "AUTH PLAIN on each attempt")
	assert.Contains(t, logs.String(), "451")
	assert.NotContains(t, logs.String(), password)
}

func TestEmailSubjectCannotInjectHeaders(t *testing.T) {
	t.Parallel()
	srv := newSMTPServer(t, 0)
	n, err := alert.NewEmail(json.RawMessage(fmt.Sprintf(`{"type": "email", "addr": %q, "from": "a@example.com", "to": ["b@example.com"]}`, srv.addr())), env{}.get)
	require.NoError(t, err)
	require.NoError(t, n.Notify(t.Context(), buildnet.Notification{Title: "x\r\nBcc: evil@example.com", Text: "body\n.\nafter a lone dot"}))
	mails, _ := srv.received()
	require.Len(t, mails, 1)
	header, _, _ := strings.Cut(mails[0].Data, "\r\n\r\n")
	assert.NotContains(t, header, "\r\nBcc:")
	assert.Contains(t, header, "Subject: =?utf-8?q?")
	assert.Contains(t, mails[0].Data, "\r\n.\r\nafter a lone dot", "dot-stuffing keeps the lone dot")
}

// safeBuffer is a bytes.Buffer safe for concurrent writes.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// failedBuild is the build:complete of a build in which api failed.
func failedBuild(id string) buildnet.Event {
	return buildnet.Event{
		Type: buildnet.EventBuildComplete, BuildID: id, Status: buildnet.StatusFailed,
		Result: &buildnet.BuildResult{ID: id, Status: buildnet.StatusFailed, Packages: []buildnet.PackageResult{
			{Name: "base", Status: buildnet.StatusSuccess, Tier: buildnet.TierFullBuild},
			{Name: "api", Status: buildnet.StatusFailed, Error: "exit status 3"},
		}},
	}
}
