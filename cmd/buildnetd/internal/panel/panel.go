package panel

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed all:dist
var files embed.FS

// FS returns the panel's files, rooted at its index.html.
func FS() fs.FS {
	sub, err := fs.Sub(files, "dist")
	if err != nil {
		panic(err) // the directory is compiled in; it cannot be missing
	}
	return sub
}

// Handler serves the panel's files.
func Handler() http.Handler { return http.FileServerFS(FS()) }
