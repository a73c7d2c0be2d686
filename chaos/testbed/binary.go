package testbed

import (
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrDynamic is wrapped when the docker testbed is given a dynamically
// linked golive: a FROM scratch image has no libc or loader.
var ErrDynamic = errors.New("dynamically linked")

// CheckStatic returns nil when the ELF executable at path needs no dynamic
// loader and no shared libraries, so it runs in a FROM scratch image.
func CheckStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("testbed: golive at %s is not a Linux executable: %w", path, err)
	}
	defer f.Close()
	dynamic := false
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			dynamic = true
		}
	}
	if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
		dynamic = true
	}
	if dynamic {
		return fmt.Errorf("testbed: golive at %s is %w; build a static one: CGO_ENABLED=0 go build -o golive ./cmd/golive", path, ErrDynamic)
	}
	return nil
}

// fileDigest is the hex sha256 of a file: the image tag, so a warm image
// cache is reused exactly while the binary is the same.
func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("testbed: hashing %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("testbed: hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
