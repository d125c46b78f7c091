package e2e

import (
	"debug/elf"
	"os"
	"path/filepath"
	"testing"
)

// The Makefile's SAM build targets produce what provided.al2023 on arm64
// runs: a static, stripped linux/arm64 ELF executable named bootstrap.
func TestMakeBuildsStaticArm64Bootstraps(t *testing.T) {
	for _, function := range []string{"MonitorFunction", "WebhookFunction"} {
		t.Run(function, func(t *testing.T) {
			path := buildArm64(t, function, t.TempDir())
			info, err := os.Stat(path)
			if err != nil {
				t.Fatalf("make build-%s wrote no bootstrap: %v", function, err)
			}
			if info.Mode()&0o111 == 0 {
				t.Errorf("%s is not executable (mode %v)", filepath.Base(path), info.Mode())
			}
			f, err := elf.Open(path)
			if err != nil {
				t.Fatalf("not an ELF file: %v", err)
			}
			defer f.Close()
			if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_AARCH64 || f.Type != elf.ET_EXEC {
				t.Errorf("class %v, machine %v, type %v; want ELFCLASS64, EM_AARCH64, ET_EXEC", f.Class, f.Machine, f.Type)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Error("has a PT_INTERP program header: dynamically linked")
				}
			}
			if libs, err := f.ImportedLibraries(); err != nil || len(libs) != 0 {
				t.Errorf("DT_NEEDED libraries %v (%v); want none", libs, err)
			}
			if f.Section(".symtab") != nil {
				t.Error("has a symbol table: not stripped (-ldflags=-s)")
			}
			t.Logf("make build-%s: %s, %d bytes (%.1f MiB), static, stripped", function, f.Machine, info.Size(), float64(info.Size())/(1<<20))
		})
	}
}
