package alert_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/musclemap/buildnet/alert"
	"github.com/musclemap/buildnet/buildnet"
)

// A receiver checks the signature of each webhook request before
// trusting it.
func ExampleVerifySignature() {
	secret := []byte("shared-secret")
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !alert.VerifySignature(secret, body, r.Header.Get(alert.HeaderSignature)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var p alert.Payload
		_ = json.Unmarshal(body, &p)
		got <- p.Kind + ": " + p.Title
	}))
	defer srv.Close()

	cfg, _ := alert.ParseConfig(json.RawMessage(`{
		"rules": [{"name": "broken", "type": "build_failed"}],
		"channels": {"ops": {"type": "webhook", "url": "` + srv.URL + `", "secret_env": "HOOK_SECRET"}}
	}`))
	a, err := alert.New(*cfg, alert.Options{Getenv: func(string) string { return string(secret) }})
	if err != nil {
		panic(err)
	}
	defer a.Close()
	a.Observe(context.Background(), buildnet.Event{
		Type: buildnet.EventBuildComplete, BuildID: "b1", Status: buildnet.StatusFailed,
		Result: &buildnet.BuildResult{ID: "b1", Status: buildnet.StatusFailed, Packages: []buildnet.PackageResult{
			{Name: "api", Status: buildnet.StatusFailed, Error: "exit status 1"},
		}},
	})
	fmt.Println(<-got)
	// Output: build_failed: Build failed: api
}

func ExampleParseConfig() {
	cfg, err := alert.ParseConfig(json.RawMessage(`{"rules": [{"name": "slower", "type": "slow_package", "factor": 3}]}`))
	fmt.Println(err, cfg.Rules[0].Name, cfg.Rules[0].Factor)
	_, err = alert.ParseConfig(json.RawMessage(`{"rules": [{"name": "x", "type": "slow_package", "factor": 0.5}]}`))
	fmt.Println(err)
	// Output:
	// <nil> slower 3
	// alerts.rules[0] (x).factor: 0.5: want more than 1
}
