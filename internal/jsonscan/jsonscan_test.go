package jsonscan_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/musclemap/buildnet/internal/jsonscan"
)

// point is a small shape decoded both ways in the tests.
type point struct {
	Name  string    `json:"name"`
	N     int64     `json:"n"`
	U     uint64    `json:"u"`
	OK    bool      `json:"ok"`
	Tags  []string  `json:"tags"`
	At    time.Time `json:"at"`
	Inner *point    `json:"inner"`
}

func scanPoint(r *jsonscan.Reader, p *point) {
	r.Object(func(key []byte) {
		switch string(key) {
		case "name":
			p.Name = r.String()
		case "n":
			p.N = r.Int()
		case "u":
			p.U = r.Uint()
		case "ok":
			p.OK = r.Bool()
		case "tags":
			p.Tags = r.Strings()
		case "at":
			p.At = r.Time()
		case "inner":
			p.Inner = new(point)
			scanPoint(r, p.Inner)
		default:
			for _, n := range []string{"name", "n", "u", "ok", "tags", "at", "inner"} {
				if strings.EqualFold(string(key), n) {
					r.Fail("folded key")
					return
				}
			}
			r.Skip()
		}
	})
}

func decode(data []byte) (point, error) {
	var p point
	r := jsonscan.NewReader(data)
	scanPoint(r, &p)
	r.End()
	return p, r.Err()
}

func TestPlainDocumentsDecodeLikeEncodingJSON(t *testing.T) {
	for _, doc := range []string{
		`{"name":"web","n":-42,"u":18446744073709551615,"ok":true,"tags":["a","b"],"at":"2026-11-26T23:47:25.806864582Z"}`,
		` { "name" : "x" , "inner" : {"name":"y","tags":[]} , "extra": {"deep":[1,2.5e-3,true,false,null,"s\\u00e9\""]} } `,
		`{"tags":[],"n":0,"ok":false}`,
		`{}`,
	} {
		got, err := decode([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		var want point
		if err := json.Unmarshal([]byte(doc), &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", doc, got, want)
		}
	}
}

func TestEscapesAreUnquotedByEncodingJSON(t *testing.T) {
	got, err := decode([]byte(`{"name":"tab\there \"q\" \u00e9 \ud83d\ude00 \udc00 caf\u00e9"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "tab\there \"q\" é 😀 \ufffd café"; got.Name != want {
		t.Errorf("name = %q, want %q", got.Name, want)
	}
}

func TestWhatItLeavesToEncodingJSON(t *testing.T) {
	for doc, why := range map[string]string{
		`{"name":null}`:                 "want a string",
		`{"name":"a","name":"b"}`:       "twice",
		`{"NAME":"a"}`:                  "folded key",
		`{"n":1.5}`:                     "int64",
		`{"n":99999999999999999999}`:    "int64",
		`{"u":-1}`:                      "uint64",
		`{"na\u006de":"a"}`:             "escapes",
		`{"name":"a"} x`:                "after the top-level",
		`{"name":"a",}`:                 "want a key",
		`{"extra":[1,]}`:                "want a value",
		`{"extra":01}`:                  "want ',' or '}'",
		`{"extra":"a` + "\x01" + `"}`:   "control character",
		`{"extra":"\x"}`:                "bad escape",
		`{"extra":tru}`:                 "want a value",
		`{"at":"2026-13-01T00:00:00Z"}`: "month",
		`{"extra":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`: "deeper",
	} {
		_, err := decode([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("%.60s: err = %v, want one about %q", doc, err, why)
		}
	}
}

// FuzzAgreesWithEncodingJSON checks the package's promise: whatever a
// Reader decodes without error, encoding/json decodes to the same value.
func FuzzAgreesWithEncodingJSON(f *testing.F) {
	f.Add([]byte(`{"name":"web","n":-42,"u":7,"ok":true,"tags":["a","b"],"at":"2026-11-26T23:47:25Z","inner":{"name":"x"}}`))
	f.Add([]byte(`{"extra":{"a":[1,2.5e-3,true,false,null,"s\u00e9"]},"name":"\ud83d\ude00"}`))
	f.Add([]byte(`{"Name":"x","name":"y"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decode(data)
		if err != nil {
			return
		}
		var want point
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("Reader accepted %q, encoding/json refuses it: %v", data, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n Reader       %+v\n encoding/json %+v", data, got, want)
		}
	})
}

func BenchmarkReader(b *testing.B) {
	data := []byte(`{"name":"p0001","n":12,"u":187377,"ok":true,"tags":["a","b","c"],"at":"2026-11-26T23:47:25.806864582Z","extra":{"kind":"unchanged_stat"}}`)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := decode(data); err != nil {
			b.Fatal(err)
		}
	}
}
