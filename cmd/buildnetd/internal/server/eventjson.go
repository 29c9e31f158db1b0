package server

import (
	"encoding/json"
	"strconv"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/internal/jsonenc"
)

// appendEventJSON appends ev as json.Marshal writes it. The events of
// builds and packages (nearly all of them) are written field by field,
// which costs a fraction of reflection; the others, such as a
// configuration change, go through encoding/json.
func appendEventJSON(b []byte, ev *buildnet.Event) ([]byte, error) {
	if ev.Change != nil || !jsonenc.TimeOK(ev.Time) || ev.Result != nil && !resultOK(ev.Result) {
		data, err := json.Marshal(ev)
		return append(b, data...), err
	}
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, ev.Seq, 10)
	b = append(b, `,"type":`...)
	b = jsonenc.AppendString(b, string(ev.Type))
	b = append(b, `,"time":`...)
	b = jsonenc.AppendTime(b, ev.Time)
	b = jsonenc.AppendField(b, "build_id", ev.BuildID)
	b = jsonenc.AppendField(b, "package", ev.Package)
	b = jsonenc.AppendField(b, "stream", ev.Stream)
	b = jsonenc.AppendField(b, "line", ev.Line)
	b = jsonenc.AppendField(b, "tier", string(ev.Tier))
	b = jsonenc.AppendField(b, "status", string(ev.Status))
	if ev.DurationMs != nil {
		b = append(b, `,"duration_ms":`...)
		b = strconv.AppendInt(b, *ev.DurationMs, 10)
	}
	b = jsonenc.AppendField(b, "digest", ev.Digest)
	b = jsonenc.AppendField(b, "error", ev.Error)
	if ev.Reason != nil {
		b = append(b, `,"reason":`...)
		b = appendReason(b, ev.Reason)
	}
	if len(ev.Packages) > 0 {
		b = append(b, `,"packages":`...)
		b = appendStrings(b, ev.Packages)
	}
	b = jsonenc.AppendField(b, "requester", ev.Requester)
	if ev.Result != nil {
		b = append(b, `,"result":`...)
		b = appendResult(b, ev.Result)
	}
	return append(b, '}'), nil
}

// resultOK reports whether appendResult can write r: its start has an
// RFC 3339 form.
func resultOK(r *buildnet.BuildResult) bool { return jsonenc.TimeOK(r.StartedAt) }

// appendResultJSON appends r as json.Marshal writes it: a build's result
// is the answer of a waited build and the end of every build's stream,
// and holds a result per package.
func appendResultJSON(b []byte, r *buildnet.BuildResult) ([]byte, error) {
	if !resultOK(r) {
		data, err := json.Marshal(r)
		return append(b, data...), err
	}
	return appendResult(b, r), nil
}

// appendResult appends r, which satisfies resultOK.
func appendResult(b []byte, r *buildnet.BuildResult) []byte {
	b = append(b, `{"id":`...)
	b = jsonenc.AppendString(b, r.ID)
	b = append(b, `,"status":`...)
	b = jsonenc.AppendString(b, string(r.Status))
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendInt(b, r.DurationMs, 10)
	b = append(b, `,"started_at":`...)
	b = jsonenc.AppendTime(b, r.StartedAt)
	b = jsonenc.AppendField(b, "requester", r.Requester)
	b = jsonenc.AppendField(b, "error", r.Error)
	if r.DryRun {
		b = append(b, `,"dry_run":true`...)
	}
	if len(r.Warnings) > 0 {
		b = append(b, `,"warnings":`...)
		b = appendStrings(b, r.Warnings)
	}
	b = append(b, `,"packages":`...)
	if r.Packages == nil {
		b = append(b, "null"...)
	} else {
		b = jsonenc.AppendArray(b, r.Packages, appendPackageResult)
	}
	return append(b, '}')
}

func appendPackageResult(b []byte, p buildnet.PackageResult) []byte {
	b = append(b, `{"name":`...)
	b = jsonenc.AppendString(b, p.Name)
	b = jsonenc.AppendField(b, "tier", string(p.Tier))
	b = append(b, `,"status":`...)
	b = jsonenc.AppendString(b, string(p.Status))
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendInt(b, p.DurationMs, 10)
	b = jsonenc.AppendField(b, "digest", p.Digest)
	b = jsonenc.AppendField(b, "error", p.Error)
	if p.Reason != nil {
		b = append(b, `,"reason":`...)
		b = appendReason(b, p.Reason)
	}
	if len(p.Reasons) > 0 {
		b = append(b, `,"reasons":`...)
		b = appendReasons(b, p.Reasons)
	}
	b = jsonenc.AppendField(b, "cache_source", p.CacheSource)
	if p.SavedMs != 0 {
		b = append(b, `,"saved_ms":`...)
		b = strconv.AppendInt(b, p.SavedMs, 10)
	}
	if len(p.Output) > 0 {
		b = append(b, `,"output":`...)
		b = appendStrings(b, p.Output)
	}
	return append(b, '}')
}

func appendReason(b []byte, r *buildnet.Reason) []byte {
	b = append(b, `{"kind":`...)
	b = jsonenc.AppendString(b, string(r.Kind))
	b = jsonenc.AppendField(b, "path", r.Path)
	b = jsonenc.AppendField(b, "name", r.Name)
	b = jsonenc.AppendField(b, "source", r.Source)
	b = jsonenc.AppendField(b, "dependency", r.Dependency)
	if len(r.Reasons) > 0 {
		b = append(b, `,"reasons":`...)
		b = appendReasons(b, r.Reasons)
	}
	b = jsonenc.AppendField(b, "message", r.Message)
	return append(b, '}')
}

func appendReasons(b []byte, rs []buildnet.Reason) []byte {
	return jsonenc.AppendArray(b, rs, func(b []byte, r buildnet.Reason) []byte { return appendReason(b, &r) })
}

func appendStrings(b []byte, ss []string) []byte {
	return jsonenc.AppendArray(b, ss, jsonenc.AppendString)
}
