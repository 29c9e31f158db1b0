package jsonscan_test

import (
	"encoding/json"
	"fmt"

	"github.com/musclemap/buildnet/internal/jsonscan"
)

// A Reader decodes the fields it is asked for and validates the rest; when
// it gives up, encoding/json decodes the same bytes. (A decoder that must
// agree with encoding/json on every input also fails on keys such as
// "Type", which encoding/json matches to the field "type".)
func Example() {
	type event struct {
		Type    string `json:"type"`
		Package string `json:"package"`
		Seq     uint64 `json:"seq"`
	}
	decode := func(data []byte) (event, error) {
		var ev event
		r := jsonscan.NewReader(data)
		r.Object(func(key []byte) {
			switch string(key) {
			case "type":
				ev.Type = r.String()
			case "package":
				ev.Package = r.String()
			case "seq":
				ev.Seq = r.Uint()
			default:
				r.Skip()
			}
		})
		r.End()
		if r.Err() == nil {
			return ev, nil
		}
		ev = event{}
		return ev, json.Unmarshal(data, &ev)
	}
	ev, err := decode([]byte(`{"seq":7,"type":"package:complete","package":"web","reason":{"kind":"unchanged_stat"}}`))
	fmt.Println(ev, err)
	ev, err = decode([]byte(`{"seq":8,"type":null,"package":"api"}`)) // a null: left to encoding/json
	fmt.Println(ev, err)
	// Output:
	// {package:complete web 7} <nil>
	// { api 8} <nil>
}
