package files_test

import (
	"fmt"

	"github.com/musclemap/buildnet/cmd/buildnetd/internal/files"
)

func ExampleTextDiff() {
	d := files.TextDiff("a/x.txt", "b/x.txt", "one\ntwo\nthree\n", "one\n2\nthree\n")
	fmt.Print(d.Unified)
	// Output:
	// --- a/x.txt
	// +++ b/x.txt
	// @@ -1,3 +1,3 @@
	//  one
	// -two
	// +2
	//  three
}

func ExampleClean() {
	for _, p := range []string{"packages/api//src/./a.ts", "packages/api/../../etc/passwd", "packages/%2e%2e/x"} {
		c, err := files.Clean(p)
		fmt.Printf("%q %v\n", c, err != nil)
	}
	// Output:
	// "packages/api/src/a.ts" false
	// "" true
	// "" true
}
