package jsonenc_test

import (
	"fmt"

	"github.com/musclemap/buildnet/internal/jsonenc"
)

func ExampleAppendArray() {
	b := jsonenc.AppendArray(nil, []string{"web", "a<b"}, jsonenc.AppendString)
	fmt.Println(string(b))
	fmt.Println(string(jsonenc.AppendArray(nil, []string{}, jsonenc.AppendString)))
	// Output:
	// ["web","a\u003cb"]
	// []
}
