package observer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzObserverState writes bytes as an observer's state file and reads it
// as the key the file names (or "ADDR"). Checks: no panic; a refusal
// says the file is corrupt or another key's; an accepted file re-saves
// and re-reads the same last window, and its re-saved file is stable.
func FuzzObserverState(f *testing.F) {
	f.Add([]byte(`{"address":"ADDR","last_window":340000000}` + "\n"))
	f.Add([]byte(`{"address":"ADDR","last_window":0}`))
	f.Add([]byte(`{"address":"OTHER","last_window":1}`))
	f.Add([]byte(`{"address":"ADDR","last_window":-1}`))
	f.Add([]byte(`{"address":"ADDR","last_window":1e3}`))
	f.Add([]byte(`{"address":"ADDR"`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		addr := "ADDR"
		if i := strings.Index(string(b), `"address":"`); i >= 0 {
			if rest := string(b[i+len(`"address":"`):]); strings.IndexByte(rest, '"') >= 0 {
				addr = rest[:strings.IndexByte(rest, '"')]
			}
		}
		path := filepath.Join(t.TempDir(), "state.json")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		w, err := readObserverState(path, addr)
		if err != nil {
			if !strings.Contains(err.Error(), "corrupt or belongs to another key") {
				t.Fatalf("refusal %q does not say why", err)
			}
			return
		}
		if err := writeObserverState(path, addr, w); err != nil {
			t.Fatal(err)
		}
		file1, _ := os.ReadFile(path)
		w2, err := readObserverState(path, addr)
		if err != nil || w2 != w {
			t.Fatalf("re-saved state reads %d (%v); want %d\n%s", w2, err, w, file1)
		}
		if err := writeObserverState(path, addr, w2); err != nil {
			t.Fatal(err)
		}
		if file2, _ := os.ReadFile(path); string(file1) != string(file2) {
			t.Fatalf("the state file is not stable:\n%s\n%s", file1, file2)
		}
	})
}
