// Package winpath maps Windows path components onto a Linux directory the
// way Windows (and Wine) name files: without regard to case.
package winpath

import (
	"os"
	"path/filepath"
	"strings"
)

// MatchName returns the entry of dir whose name equals name ignoring case
// (name itself when it exists as spelled, or when no entry matches).
func MatchName(dir, name string) string {
	if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
		return name
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return name
	}
	for _, e := range entries {
		if strings.EqualFold(e.Name(), name) {
			return e.Name()
		}
	}
	return name
}
