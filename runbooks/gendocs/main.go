// Command gendocs writes the step reference (docs/steps.md) and the field
// docs drctl schema shows (runbooks/fielddocs_gen.go) from the step
// catalogue and the doc comments of the steps' types. go generate
// ./runbooks runs it with the repository's root as its argument.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/drctl/drctl/runbooks"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gendocs REPOSITORY-ROOT")
		os.Exit(2)
	}
	root := os.Args[1]
	docs, err := runbooks.ParseFieldDocs(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
	for path, text := range map[string]string{
		filepath.Join(root, "runbooks", "fielddocs_gen.go"): runbooks.FieldDocsSource(docs),
		filepath.Join(root, "docs", "steps.md"):             runbooks.StepsMarkdown(docs),
	} {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gendocs:", err)
			os.Exit(1)
		}
	}
}
