package schemas

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteGenerated writes src, code generated from the message types (package
// tsgen's TypeScript, package gogen's Go), to the file name, making its
// directory if missing (a fresh app has no src/generated/ yet). The file is
// replaced at once, so that a failed run never leaves a half-written module
// behind.
func WriteGenerated(name string, src []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	_, err = f.Write(src)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}
