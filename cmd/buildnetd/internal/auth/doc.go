// Package auth is buildnetd's access control: who a request comes from,
// what it may do, how often, in which session, and the audit log of it
// all.
//
// Clients authenticate with an API key ("bnk_" followed by 64 hex
// digits, stored only as its SHA-256) or with a login token: a JWT signed
// with HS256 under a secret kept in the state database, issued by
// POST /auth/login for a user's password (bcrypt) or a key. Tokens expire
// and are refreshed with a refresh token; the parser accepts HS256 only,
// so "alg": "none" and tokens signed with another algorithm are refused.
//
// Every principal has a [Role]: read, build or admin, each allowing what
// the one before it does and more. [Perm] names what an endpoint or a
// WebSocket operation needs, and [Perm.Role] is the one table that maps
// permissions to roles. [Service.Wrap] enforces it for HTTP, SSE and
// WebSocket alike: 401 without valid credentials, 403 with the role
// needed, 429 with Retry-After beyond the caller's rate limit. Every
// refusal, and every allowed action that changes something, goes to the
// audit log ([Auditor]).
//
// [Sessions] gives each client connection a session, returned in the
// X-BuildNet-Session header: builds belong to the session that asked for
// them, idle sessions are closed, each actor has a bounded number of
// sessions, and a session's builds and subscriptions can be handed to
// another session of the same actor or to an admin's.
package auth
