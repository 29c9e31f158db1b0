package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/auth"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/server"
)

func ExampleNew() {
	root, err := os.MkdirTemp("", "buildnet-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	config := `{"packages": [{"name": "hello", "path": "hello", "build_cmd": "mkdir -p dist && echo hi > dist/out"}]}`
	for name, content := range map[string]string{buildnet.ConfigFile: config, "hello/src.txt": "hello\n"} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			log.Fatal(err)
		}
	}

	e, err := buildnet.Open(context.Background(), buildnet.Config{Root: root})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	s := server.New(e, server.Options{Version: "1.0.0"})
	defer s.Close()
	ts := httptest.NewServer(s)
	defer ts.Close()

	// The server wrote an admin key to .buildnet/admin.key; every request
	// but GET /health must carry a key or a login token.
	key, err := auth.ReadAdminKey(filepath.Join(root, ".buildnet"))
	if err != nil {
		log.Fatal(err)
	}
	for range 2 {
		req, err := http.NewRequest(http.MethodPost, ts.URL+"/build/hello?wait=true", nil)
		if err != nil {
			log.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		var res buildnet.BuildResult
		err = json.NewDecoder(resp.Body).Decode(&res)
		resp.Body.Close()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(resp.StatusCode, res.Status, res.Packages[0].Name, res.Packages[0].Tier)
	}
	// Output:
	// 200 success hello full_build
	// 200 success hello instant_skip
}
