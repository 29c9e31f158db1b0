package auth_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/musclemap/buildnet/cmd/buildnetd/internal/auth"
	"github.com/musclemap/buildnet/state"
)

func ExampleService_Wrap() {
	dir, err := os.MkdirTemp("", "buildnet-auth")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := state.Open(ctx, filepath.Join(dir, "state.db"), state.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	svc, err := auth.New(ctx, auth.Options{Store: db})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()

	// Clearing the cache needs the admin role.
	h := svc.Wrap(auth.PermCacheClear, "cache.clear", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "cleared")
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()

	reader, _ := auth.CreateKey(ctx, db, "dashboard", auth.RoleRead, "example")
	admin, _ := auth.CreateKey(ctx, db, "ops", auth.RoleAdmin, "example")
	for _, key := range []string{"", reader.Key, admin.Key} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	// Output:
	// 401
	// 403
	// 200
}
