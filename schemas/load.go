package schemas

import (
	"fmt"
	iofs "io/fs"
	"os"

	"github.com/heraldpush/herald/protocol"
)

// Load returns the built-in message types and those of dir, an app's
// directory of <type>.json files ("" for none): the types herald serve
// accepts with --schemas-dir and herald schema generates code for.
func Load(dir string) (*protocol.Types, error) {
	sources := []iofs.FS{FS}
	if dir != "" {
		sources = append(sources, os.DirFS(dir))
	}
	types, err := protocol.LoadTypes(sources...)
	if err != nil {
		return nil, fmt.Errorf("loading message types: %w", err)
	}
	return types, nil
}
