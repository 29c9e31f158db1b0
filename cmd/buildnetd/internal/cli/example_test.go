package cli_test

import (
	"context"
	"os"

	"github.com/musclemap/buildnet/cmd/buildnetd/internal/cli"
)

func ExampleMain() {
	code := cli.Main(context.Background(), []string{"version", "--json"}, cli.Env{Stdout: os.Stdout, Stderr: os.Stderr})
	if code != 0 {
		panic(code)
	}
	// Output:
	// {
	//   "version": "0.1.0"
	// }
}
