package template_test

import (
	"fmt"

	"github.com/musclemap/buildnet/template"
)

func ExampleTemplate_Apply() {
	tm, err := template.Parse([]byte(`
name: lib
params:
  - name: dir
    default: packages
packages:
  - name: "{name}"
    path: "{dir}/{name}"
    build_cmd: tsc --outDir dist && echo built {name}
`), ".buildnet/templates/lib.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	pkgs, err := tm.Apply(map[string]string{"name": "x; rm -rf ~"})
	fmt.Println(err)

	pkgs, _ = tm.Apply(map[string]string{"name": "web"})
	fmt.Println(pkgs[0].Name, pkgs[0].Path)
	fmt.Println(pkgs[0].BuildCmd)
	// Output:
	// template lib: value "x; rm -rf ~" for name cannot go into packages[0].name: package names may contain only letters, digits and @ . _ / -
	// web packages/web
	// tsc --outDir dist && echo built 'web'
}
