package server

import (
	"encoding/json"
	"strconv"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/internal/jsonenc"
)

// appendEventJSON appends ev as json.Marshal writes it. The events of
// packages (nearly all of a build's) are written field by field, which
// costs a fraction of reflection; the others, which carry a build's
// result or a configuration change, go through encoding/json.
func appendEventJSON(b []byte, ev *buildnet.Event) ([]byte, error) {
	if ev.Result != nil || ev.Change != nil || (ev.Reason != nil && len(ev.Reason.Reasons) > 0) || !jsonenc.TimeOK(ev.Time) {
		data, err := json.Marshal(ev)
		return append(b, data...), err
	}
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, ev.Seq, 10)
	b = append(b, `,"type":`...)
	b = jsonenc.AppendString(b, string(ev.Type))
	b = append(b, `,"time":`...)
	b = jsonenc.AppendTime(b, ev.Time)
	b = appendField(b, "build_id", ev.BuildID)
	b = appendField(b, "package", ev.Package)
	b = appendField(b, "stream", ev.Stream)
	b = appendField(b, "line", ev.Line)
	b = appendField(b, "tier", string(ev.Tier))
	b = appendField(b, "status", string(ev.Status))
	if ev.DurationMs != nil {
		b = append(b, `,"duration_ms":`...)
		b = strconv.AppendInt(b, *ev.DurationMs, 10)
	}
	b = appendField(b, "digest", ev.Digest)
	b = appendField(b, "error", ev.Error)
	if r := ev.Reason; r != nil {
		b = append(b, `,"reason":{"kind":`...)
		b = jsonenc.AppendString(b, string(r.Kind))
		b = appendField(b, "path", r.Path)
		b = appendField(b, "name", r.Name)
		b = appendField(b, "source", r.Source)
		b = appendField(b, "dependency", r.Dependency)
		b = appendField(b, "message", r.Message)
		b = append(b, '}')
	}
	if len(ev.Packages) > 0 {
		b = append(b, `,"packages":[`...)
		for i, p := range ev.Packages {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonenc.AppendString(b, p)
		}
		b = append(b, ']')
	}
	b = appendField(b, "requester", ev.Requester)
	return append(b, '}'), nil
}

// appendField appends `,"name":value` for a string field tagged
// omitempty, and nothing when value is empty.
func appendField(b []byte, name, value string) []byte {
	if value == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return jsonenc.AppendString(b, value)
}
