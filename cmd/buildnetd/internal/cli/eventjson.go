package cli

import (
	"bytes"
	"encoding/json"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/internal/jsonscan"
)

// decodeEvent decodes one event of the daemon's stream into se, as
// json.Unmarshal would. Following a build of hundreds of packages is
// mostly decoding their events: the plain ones are read field by field,
// and whatever jsonscan leaves (escapes, nulls, odd keys) goes to
// encoding/json.
func decodeEvent(data []byte, se *streamEvent) error {
	if scanEvent(data, se) == nil {
		return nil
	}
	*se = streamEvent{}
	return json.Unmarshal(data, se)
}

// scanEvent is decodeEvent's plain path; it fails on whatever it leaves
// to encoding/json.
func scanEvent(data []byte, se *streamEvent) error {
	r := jsonscan.NewReader(data)
	r.Object(func(key []byte) { se.member(r, key) })
	r.End()
	return r.Err()
}

// mustMatch fails r when encoding/json would match key to one of names
// case-insensitively (it prefers exact matches, which the callers have
// ruled out), and skips the value otherwise.
func mustMatch(r *jsonscan.Reader, key []byte, names ...string) {
	for _, n := range names {
		// Keys are ASCII here (jsonscan gives up on others), so a name
		// of another length cannot match.
		if len(n) == len(key) && bytes.EqualFold(key, []byte(n)) {
			r.Fail("key %q matches field %q only without case", key, n)
			return
		}
	}
	r.Skip()
}

func (e *streamEvent) member(r *jsonscan.Reader, key []byte) {
	switch string(key) {
	case "seq":
		e.Seq = r.Uint()
	case "type":
		e.Type = buildnet.EventType(r.String())
	case "build_id":
		e.BuildID = r.String()
	case "package":
		e.Package = r.String()
	case "stream":
		e.Stream = r.String()
	case "line":
		e.Line = r.String()
	case "tier":
		e.Tier = buildnet.Tier(r.String())
	case "status":
		e.Status = buildnet.Status(r.String())
	case "duration_ms":
		d := r.Int()
		e.DurationMs = &d
	case "error":
		e.Error = r.String()
	case "packages":
		e.Packages = r.Strings()
	case "requester":
		e.Requester = r.String()
	case "result":
		e.Result = new(buildnet.BuildResult)
		r.Object(func(key []byte) { resultMember(r, e.Result, key) })
	default:
		mustMatch(r, key, "seq", "type", "build_id", "package", "stream", "line", "tier", "status",
			"duration_ms", "error", "packages", "requester", "result")
	}
}

func resultMember(r *jsonscan.Reader, res *buildnet.BuildResult, key []byte) {
	switch string(key) {
	case "id":
		res.ID = r.String()
	case "status":
		res.Status = buildnet.Status(r.String())
	case "duration_ms":
		res.DurationMs = r.Int()
	case "started_at":
		res.StartedAt = r.Time()
	case "requester":
		res.Requester = r.String()
	case "error":
		res.Error = r.String()
	case "dry_run":
		res.DryRun = r.Bool()
	case "warnings":
		res.Warnings = r.Strings()
	case "packages":
		res.Packages = []buildnet.PackageResult{}
		r.Array(func() {
			res.Packages = append(res.Packages, buildnet.PackageResult{})
			p := &res.Packages[len(res.Packages)-1]
			r.Object(func(key []byte) { packageMember(r, p, key) })
		})
	default:
		mustMatch(r, key, "id", "status", "duration_ms", "started_at", "requester", "error", "dry_run", "warnings", "packages")
	}
}

func packageMember(r *jsonscan.Reader, p *buildnet.PackageResult, key []byte) {
	switch string(key) {
	case "name":
		p.Name = r.String()
	case "tier":
		p.Tier = buildnet.Tier(r.String())
	case "status":
		p.Status = buildnet.Status(r.String())
	case "duration_ms":
		p.DurationMs = r.Int()
	case "digest":
		p.Digest = r.String()
	case "error":
		p.Error = r.String()
	case "reason":
		p.Reason = new(buildnet.Reason)
		r.Object(func(key []byte) { reasonMember(r, p.Reason, key) })
	case "reasons":
		p.Reasons = reasons(r)
	case "cache_source":
		p.CacheSource = r.String()
	case "saved_ms":
		p.SavedMs = r.Int()
	case "output":
		p.Output = r.Strings()
	default:
		mustMatch(r, key, "name", "tier", "status", "duration_ms", "digest", "error", "reason", "reasons",
			"cache_source", "saved_ms", "output")
	}
}

func reasons(r *jsonscan.Reader) []buildnet.Reason {
	rs := []buildnet.Reason{}
	r.Array(func() {
		var x buildnet.Reason
		r.Object(func(key []byte) { reasonMember(r, &x, key) })
		rs = append(rs, x)
	})
	return rs
}

func reasonMember(r *jsonscan.Reader, x *buildnet.Reason, key []byte) {
	switch string(key) {
	case "kind":
		x.Kind = buildnet.ReasonKind(r.String())
	case "path":
		x.Path = r.String()
	case "name":
		x.Name = r.String()
	case "source":
		x.Source = r.String()
	case "dependency":
		x.Dependency = r.String()
	case "reasons":
		x.Reasons = reasons(r)
	case "message":
		x.Message = r.String()
	default:
		mustMatch(r, key, "kind", "path", "name", "source", "dependency", "reasons", "message")
	}
}
