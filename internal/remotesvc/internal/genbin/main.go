package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nxdeploy/deployer/internal/remotesvc/build"
)

func main() {
	out := flag.String("out", "bin", "output directory")
	flag.Parse()
	if err := run(context.Background(), *out); err != nil {
		fmt.Fprintln(os.Stderr, "genbin:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "nxsvc-genbin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var toolchains []string
	for _, arch := range build.Arches() {
		var builds [2][]byte
		for i := range builds {
			dir := filepath.Join(tmp, fmt.Sprint(i))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			p, err := build.Build(ctx, "", dir, arch)
			if err != nil {
				return err
			}
			if builds[i], err = os.ReadFile(p); err != nil {
				return err
			}
		}
		if !bytes.Equal(builds[0], builds[1]) {
			return fmt.Errorf("windows/%s: two builds differ: not reproducible", arch)
		}
		dst := filepath.Join(out, build.FileName(arch))
		if err := os.WriteFile(dst, builds[0], 0o644); err != nil {
			return err
		}
		tc, err := build.Toolchain(ctx, arch)
		if err != nil {
			return err
		}
		toolchains = append(toolchains, arch+": "+tc)
		fmt.Printf("%s %d bytes sha256 %x\n", dst, len(builds[0]), sha256.Sum256(builds[0]))
	}
	return os.WriteFile(filepath.Join(out, "TOOLCHAIN"), []byte(strings.Join(toolchains, "\n")+"\n"), 0o644)
}
