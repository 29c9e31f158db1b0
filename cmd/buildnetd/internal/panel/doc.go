// Package panel serves buildnetd's embedded web panel: static files
// compiled into the binary, so nothing is needed beside it.
//
// The panel is plain ES modules with no build step: dist/index.html loads
// dist/js/app.js, which imports the views under dist/js/views/. It talks
// only to the daemon that serves it, over the HTTP API, the WebSocket
// GET /ws and, when the WebSocket cannot be used, the SSE stream
// GET /events. Third-party code (the cytoscape graph library) is vendored
// under dist/vendor/ with its licence; dist/vendor/README.md says where
// each file comes from and how to update it.
package panel
