package keyring_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/crypto/keyring"
)

const goodPass = "correct horse battery"

// passphrases is a PassphraseFunc that hands out a fixed passphrase and
// records how it was asked.
type passphrases struct {
	mu    sync.Mutex
	pass  string
	calls []bool // confirm flag per call
}

func (p *passphrases) get(prompt string, confirm bool) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !strings.Contains(prompt, "passphrase") {
		return "", fmt.Errorf("prompt %q does not mention a passphrase", prompt)
	}
	p.calls = append(p.calls, confirm)
	return p.pass, nil
}

func newKeyring(t *testing.T, home string, backend keyring.Backend, pass string) (*keyring.Keyring, *passphrases) {
	t.Helper()
	p := &passphrases{pass: pass}
	kr, err := keyring.New(home, backend, p.get)
	if err != nil {
		t.Fatalf("New(%s): %v", backend, err)
	}
	return kr, p
}

func seedKey(b byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
}

func names(infos []keyring.KeyInfo) []string {
	var out []string
	for _, i := range infos {
		out = append(out, i.Name)
	}
	return out
}

var backends = []keyring.Backend{keyring.BackendTest, keyring.BackendFile}

func TestRoundTrip(t *testing.T) {
	for _, backend := range backends {
		t.Run(string(backend), func(t *testing.T) {
			home := t.TempDir()
			kr, _ := newKeyring(t, home, backend, goodPass)
			if want := filepath.Join(home, "keyring-"+string(backend)); kr.Dir() != want {
				t.Fatalf("Dir() = %s, want %s", kr.Dir(), want)
			}
			if got, err := kr.List(); err != nil || len(got) != 0 {
				t.Fatalf("List on a new keyring = %v, %v; want empty", got, err)
			}

			bob, err := kr.Add("bob")
			if err != nil {
				t.Fatal(err)
			}
			alice, err := kr.Add("alice")
			if err != nil {
				t.Fatal(err)
			}
			carolPriv := seedKey(7)
			carol, err := kr.Import("carol", carolPriv)
			if err != nil {
				t.Fatal(err)
			}
			for _, info := range []keyring.KeyInfo{alice, bob, carol} {
				if len(info.PubKey) != crypto.PubKeyLen || info.Address != crypto.AddressHex(info.PubKey) || info.Backend != backend {
					t.Fatalf("KeyInfo %+v: want a 32-byte pub key, its upper-hex address and backend %s", info, backend)
				}
			}
			if bytes.Equal(alice.PubKey, bob.PubKey) {
				t.Fatal("Add generated the same key twice")
			}
			if !bytes.Equal(carol.PubKey, carolPriv.Public().(ed25519.PublicKey)) {
				t.Fatalf("Import stored pub key %X, want %X", carol.PubKey, carolPriv.Public())
			}

			// A fresh Keyring over the same directory sees the same keys,
			// sorted by name.
			kr, _ = newKeyring(t, home, backend, goodPass)
			list, err := kr.List()
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(names(list), ","); got != "alice,bob,carol" {
				t.Fatalf("List = %s, want alice,bob,carol", got)
			}
			for i, want := range []keyring.KeyInfo{alice, bob, carol} {
				if fmt.Sprint(list[i]) != fmt.Sprint(want) {
					t.Fatalf("List[%d] = %+v, want %+v", i, list[i], want)
				}
				shown, err := kr.Show(want.Name)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(shown) != fmt.Sprint(want) {
					t.Fatalf("Show(%s) = %+v, want %+v", want.Name, shown, want)
				}
			}

			priv, err := kr.Signer("carol")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(priv, carolPriv) {
				t.Fatal("Signer(carol) did not return the imported key")
			}
			priv, err = kr.Signer("alice")
			if err != nil {
				t.Fatal(err)
			}
			body := []byte("tx body")
			if !crypto.Verify(alice.PubKey, body, crypto.Sign(priv, body)) {
				t.Fatal("Signer(alice) key does not sign for alice's pub key")
			}

			if err := kr.Delete("bob"); err != nil {
				t.Fatal(err)
			}
			if _, err := kr.Show("bob"); !errors.Is(err, keyring.ErrKeyNotFound) {
				t.Fatalf("Show after Delete: err = %v, want ErrKeyNotFound", err)
			}
			if err := kr.Delete("bob"); !errors.Is(err, keyring.ErrKeyNotFound) {
				t.Fatalf("second Delete: err = %v, want ErrKeyNotFound", err)
			}
			if _, err := kr.Signer("bob"); !errors.Is(err, keyring.ErrKeyNotFound) || !strings.Contains(err.Error(), `"bob"`) {
				t.Fatalf("Signer after Delete: err = %v, want ErrKeyNotFound naming the key", err)
			}
			list, err = kr.List()
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(names(list), ","); got != "alice,carol" {
				t.Fatalf("List after Delete = %s, want alice,carol", got)
			}
			// The name is free again.
			if _, err := kr.Import("bob", seedKey(9)); err != nil {
				t.Fatalf("re-adding a deleted name: %v", err)
			}
		})
	}
}

func TestListSortsByNameNotFileName(t *testing.T) {
	kr, _ := newKeyring(t, t.TempDir(), keyring.BackendTest, "")
	// "a-b.key" sorts before "a.key" as a file name; "a" < "a-b" as names.
	for i, name := range []string{"a-b", "a", "B", "_z"} {
		if _, err := kr.Import(name, seedKey(byte(i))); err != nil {
			t.Fatal(err)
		}
	}
	list, err := kr.List()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(list), ","); got != "B,_z,a,a-b" {
		t.Fatalf("List = %s, want B,_z,a,a-b", got)
	}
}

func TestListIgnoresStrayFiles(t *testing.T) {
	kr, _ := newKeyring(t, t.TempDir(), keyring.BackendTest, "")
	if _, err := kr.Add("k1"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"README", ".tmp-123", ".hidden.key", "k1.key.bak", "-x.key"} {
		if err := os.WriteFile(filepath.Join(kr.Dir(), f), []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	list, err := kr.List()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(list), ","); got != "k1" {
		t.Fatalf("List = %s, want k1", got)
	}
}

func TestFileBackendEncrypts(t *testing.T) {
	kr, pp := newKeyring(t, t.TempDir(), keyring.BackendFile, goodPass)
	priv := seedKey(0x42)
	start := time.Now()
	info, err := kr.Import("enc", priv)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Import with argon2id took %v", time.Since(start))
	if len(pp.calls) != 1 || !pp.calls[0] {
		t.Fatalf("passphrase calls (confirm flags) = %v, want one call with confirm=true", pp.calls)
	}

	data, err := os.ReadFile(filepath.Join(kr.Dir(), "enc.key"))
	if err != nil {
		t.Fatal(err)
	}
	seed := priv.Seed()
	for what, secret := range map[string][]byte{
		"raw seed":           seed,
		"raw private key":    priv,
		"base64 seed":        []byte(base64.StdEncoding.EncodeToString(seed)),
		"base64 private key": []byte(base64.StdEncoding.EncodeToString(priv)),
		"hex seed":           []byte(hex.EncodeToString(seed)),
		"passphrase":         []byte(goodPass),
	} {
		if bytes.Contains(data, secret) {
			t.Errorf("key file contains the %s", what)
		}
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("key file is not JSON: %v", err)
	}
	if doc["backend"] != "file" || doc["address"] != info.Address || doc["pub_key"] != base64.StdEncoding.EncodeToString(info.PubKey) {
		t.Fatalf("key file %s: want backend file and the address and pub key in clear", data)
	}
	if _, ok := doc["warning"]; ok {
		t.Fatal("file-backend key carries the test-key warning")
	}
	kdf, _ := doc["kdf"].(map[string]any)
	if kdf["name"] != "argon2id" || kdf["time"] != 3.0 || kdf["memory_kib"] != 65536.0 || kdf["threads"] != 4.0 {
		t.Fatalf("kdf = %v, want argon2id time=3 memory_kib=65536 threads=4 (the documented parameters)", kdf)
	}

	// Show and List need no passphrase.
	if _, err := kr.Show("enc"); err != nil {
		t.Fatal(err)
	}
	if len(pp.calls) != 1 {
		t.Fatalf("Show asked for a passphrase: calls = %v", pp.calls)
	}

	got, err := kr.Signer("enc")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, priv) {
		t.Fatal("Signer returned a different key")
	}
	if len(pp.calls) != 2 || pp.calls[1] {
		t.Fatalf("passphrase calls (confirm flags) = %v, want a second call with confirm=false", pp.calls)
	}

	// Two encryptions of the same key use fresh salt and nonce.
	if _, err := kr.Import("enc2", priv); err != nil {
		t.Fatal(err)
	}
	data2, err := os.ReadFile(filepath.Join(kr.Dir(), "enc2.key"))
	if err != nil {
		t.Fatal(err)
	}
	var doc2 map[string]any
	if err := json.Unmarshal(data2, &doc2); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(doc2["cipher"]) == fmt.Sprint(doc["cipher"]) || fmt.Sprint(doc2["kdf"]) == fmt.Sprint(doc["kdf"]) {
		t.Fatal("two encryptions reused salt or nonce")
	}
}

func TestWrongPassphrase(t *testing.T) {
	home := t.TempDir()
	kr, _ := newKeyring(t, home, keyring.BackendFile, goodPass)
	if _, err := kr.Add("k"); err != nil {
		t.Fatal(err)
	}
	for _, pass := range []string{"wrong passphrase", "", goodPass + " ", strings.ToUpper(goodPass)} {
		other, _ := newKeyring(t, home, keyring.BackendFile, pass)
		_, err := other.Signer("k")
		if !errors.Is(err, keyring.ErrWrongPassphrase) {
			t.Fatalf("Signer with passphrase %q: err = %v, want ErrWrongPassphrase", pass, err)
		}
		if !strings.Contains(err.Error(), `"k"`) {
			t.Fatalf("error %q does not name the key", err)
		}
	}
}

func TestPassphraseErrors(t *testing.T) {
	home := t.TempDir()

	weak, _ := newKeyring(t, home, keyring.BackendFile, "short")
	_, err := weak.Add("k")
	if !errors.Is(err, keyring.ErrWeakPassphrase) || !strings.Contains(err.Error(), "got 5 characters, want at least 8") {
		t.Fatalf("Add with a 5-character passphrase: err = %v, want ErrWeakPassphrase with lengths", err)
	}
	if _, err := weak.Show("k"); !errors.Is(err, keyring.ErrKeyNotFound) {
		t.Fatalf("a rejected Add left a key behind: Show err = %v", err)
	}

	noPass, err := keyring.New(home, keyring.BackendFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noPass.Add("k"); !errors.Is(err, keyring.ErrNoPassphrase) {
		t.Fatalf("Add without a passphrase callback: err = %v, want ErrNoPassphrase", err)
	}
	if _, err := noPass.List(); err != nil {
		t.Fatalf("List without a passphrase callback: %v", err)
	}

	failing, err := keyring.New(home, keyring.BackendFile, func(string, bool) (string, error) {
		return "", errors.New("passphrases do not match")
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := failing.Add("k"); err == nil || !strings.Contains(err.Error(), "passphrases do not match") {
		t.Fatalf("Add with a failing callback: err = %v, want the callback's error", err)
	}

	// The test backend never asks.
	test, err := keyring.New(home, keyring.BackendTest, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := test.Add("k"); err != nil {
		t.Fatal(err)
	}
	if _, err := test.Signer("k"); err != nil {
		t.Fatal(err)
	}
}

func TestPermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("mode bits are not checked on Windows")
	}
	for _, backend := range backends {
		t.Run(string(backend), func(t *testing.T) {
			home := filepath.Join(t.TempDir(), "not-yet-created")
			kr, _ := newKeyring(t, home, backend, goodPass)
			if _, err := kr.Import("k", seedKey(1)); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(kr.Dir(), "k.key")
			for p, want := range map[string]os.FileMode{kr.Dir(): 0o700, path: 0o600} {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if got := fi.Mode().Perm(); got != want {
					t.Fatalf("%s has mode %04o, want %04o", p, got, want)
				}
			}

			for _, mode := range []os.FileMode{0o620, 0o602, 0o666} {
				if err := os.Chmod(path, mode); err != nil {
					t.Fatal(err)
				}
				_, err := kr.Show("k")
				if !errors.Is(err, keyring.ErrInsecurePermissions) || !strings.Contains(err.Error(), "chmod 600") {
					t.Fatalf("Show of a key file with mode %04o: err = %v, want ErrInsecurePermissions with a fix", mode, err)
				}
				if _, err := kr.List(); !errors.Is(err, keyring.ErrInsecurePermissions) {
					t.Fatalf("List with a key file of mode %04o: err = %v, want ErrInsecurePermissions", mode, err)
				}
			}
			// Readable by group or others is refused too (issue 11): the test
			// backend's file is a plaintext seed, the file backend's open to
			// offline guessing.
			for _, mode := range []os.FileMode{0o644, 0o640, 0o604} {
				if err := os.Chmod(path, mode); err != nil {
					t.Fatal(err)
				}
				if _, err := kr.Signer("k"); !errors.Is(err, keyring.ErrInsecurePermissions) || !strings.Contains(err.Error(), "chmod 600") {
					t.Fatalf("Signer of a key file with mode %04o: err = %v, want ErrInsecurePermissions with a fix", mode, err)
				}
			}
			if err := os.Chmod(path, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := kr.Signer("k"); err != nil {
				t.Fatalf("Signer of a key file with mode 0600: %v", err)
			}

			if err := os.Chmod(kr.Dir(), 0o770); err != nil {
				t.Fatal(err)
			}
			_, err := keyring.New(home, backend, nil)
			if !errors.Is(err, keyring.ErrInsecurePermissions) || !strings.Contains(err.Error(), "chmod 700") {
				t.Fatalf("New over a directory with mode 0770: err = %v, want ErrInsecurePermissions with a fix", err)
			}
			if err := os.Chmod(kr.Dir(), 0o755); err != nil {
				t.Fatal(err)
			}
			if _, err := keyring.New(home, backend, nil); err != nil {
				t.Fatalf("New over a directory with mode 0755: %v", err)
			}
		})
	}
}

func TestDuplicateName(t *testing.T) {
	for _, backend := range backends {
		t.Run(string(backend), func(t *testing.T) {
			kr, pp := newKeyring(t, t.TempDir(), backend, goodPass)
			first, err := kr.Import("dup", seedKey(1))
			if err != nil {
				t.Fatal(err)
			}
			calls := len(pp.calls)
			if _, err := kr.Add("dup"); !errors.Is(err, keyring.ErrKeyExists) || !strings.Contains(err.Error(), `"dup"`) {
				t.Fatalf("Add of an existing name: err = %v, want ErrKeyExists naming the key", err)
			}
			if _, err := kr.Import("dup", seedKey(2)); !errors.Is(err, keyring.ErrKeyExists) {
				t.Fatalf("Import of an existing name: err = %v, want ErrKeyExists", err)
			}
			if len(pp.calls) != calls {
				t.Fatal("a duplicate name asked for a passphrase before failing")
			}
			if got, err := kr.Show("dup"); err != nil || !bytes.Equal(got.PubKey, first.PubKey) {
				t.Fatalf("the original key was changed: %+v, %v", got, err)
			}
		})
	}
}

func TestConcurrentAddSameName(t *testing.T) {
	kr, _ := newKeyring(t, t.TempDir(), keyring.BackendTest, "")
	const n = 16
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := kr.Add("race")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, keyring.ErrKeyExists):
			t.Fatalf("concurrent Add: unexpected error %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent Adds of one name succeeded, want exactly 1", ok)
	}
	entries, err := os.ReadDir(kr.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("keyring directory holds %d entries after the race, want 1 (no temp files left)", len(entries))
	}
}

func TestInvalidNames(t *testing.T) {
	kr, _ := newKeyring(t, t.TempDir(), keyring.BackendTest, "")
	bad := []struct{ name, why string }{
		{"", "length 0"},
		{strings.Repeat("a", 65), "length 65"},
		{"a/b", `'/' at position 1`},
		{"../escape", `'.' at position 0`},
		{"..", `'.' at position 0`},
		{".hidden", `'.' at position 0`},
		{"-flag", `'-' at position 0`},
		{"two words", `' ' at position 3`},
		{"tab\t", `'\t' at position 3`},
		{"nul\x00", `'\x00' at position 3`},
		{"émile", `position 0`},
		{`back\slash`, `'\\' at position 4`},
	}
	for _, c := range bad {
		for op, call := range map[string]func() error{
			"Add":    func() error { _, err := kr.Add(c.name); return err },
			"Import": func() error { _, err := kr.Import(c.name, seedKey(1)); return err },
			"Show":   func() error { _, err := kr.Show(c.name); return err },
			"Signer": func() error { _, err := kr.Signer(c.name); return err },
			"Delete": func() error { return kr.Delete(c.name) },
		} {
			err := call()
			if !errors.Is(err, keyring.ErrInvalidName) {
				t.Fatalf("%s(%q): err = %v, want ErrInvalidName", op, c.name, err)
			}
			if !strings.Contains(err.Error(), c.why) || !strings.Contains(err.Error(), "want 1-64 characters") {
				t.Fatalf("%s(%q): error %q should contain %q and the rule", op, c.name, err, c.why)
			}
		}
	}
	entries, _ := os.ReadDir(kr.Dir())
	if len(entries) != 0 {
		t.Fatalf("invalid names created %d files", len(entries))
	}

	for i, name := range []string{"a", "Z", "_", "0", strings.Repeat("x", 64), "node-1.ops_key", "a..b", "a-"} {
		if _, err := kr.Import(name, seedKey(byte(i))); err != nil {
			t.Fatalf("Import(%q): %v", name, err)
		}
		if err := keyring.ValidateName(name); err != nil {
			t.Fatalf("ValidateName(%q): %v", name, err)
		}
	}
}

func TestTestBackendMarksItself(t *testing.T) {
	home := t.TempDir()
	kr, _ := newKeyring(t, home, keyring.BackendTest, "")
	priv := seedKey(3)
	if _, err := kr.Import("dev", priv); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(kr.Dir(), "dev.key"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["backend"] != "test" || doc["warning"] != "UNENCRYPTED test key – never use for real funds/roles" {
		t.Fatalf("test key file %s: want backend test and the warning", data)
	}
	if doc["priv_key_seed"] != base64.StdEncoding.EncodeToString(priv.Seed()) {
		t.Fatalf("test key file %s: want the unencrypted seed", data)
	}
	if _, ok := doc["kdf"]; ok {
		t.Fatal("test key file has kdf parameters")
	}

	// A test key dropped into the file keyring is refused, not used.
	fileKr, _ := newKeyring(t, home, keyring.BackendFile, goodPass)
	if err := os.WriteFile(filepath.Join(fileKr.Dir(), "dev.key"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := fileKr.Show("dev"); !errors.Is(err, keyring.ErrCorruptKeyFile) || !strings.Contains(err.Error(), `backend "test", want "file"`) {
		t.Fatalf("Show of a test key in the file keyring: err = %v, want ErrCorruptKeyFile naming the backends", err)
	}
}

// edit rewrites one JSON field of a key file.
func edit(t *testing.T, path string, f func(doc map[string]any)) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	f(doc)
	if data, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTamperedFiles(t *testing.T) {
	otherPub := seedKey(99).Public().(ed25519.PublicKey)
	b64 := base64.StdEncoding.EncodeToString
	cases := []struct {
		name     string
		backend  keyring.Backend
		edit     func(doc map[string]any)
		showErr  error // from Show; nil means Show succeeds
		signErr  error // from Signer
		contains string
	}{
		{"address", keyring.BackendTest, func(d map[string]any) { d["address"] = strings.Repeat("A", 40) }, keyring.ErrCorruptKeyFile, keyring.ErrCorruptKeyFile, "does not match pub_key"},
		{"name", keyring.BackendTest, func(d map[string]any) { d["name"] = "other" }, keyring.ErrCorruptKeyFile, keyring.ErrCorruptKeyFile, `holds key name "other", want "k"`},
		{"version", keyring.BackendTest, func(d map[string]any) { d["version"] = 2 }, keyring.ErrCorruptKeyFile, keyring.ErrCorruptKeyFile, "version 2, want 1"},
		{"unknown field", keyring.BackendTest, func(d map[string]any) { d["extra"] = 1 }, keyring.ErrCorruptKeyFile, keyring.ErrCorruptKeyFile, "unknown field"},
		{"short pub key", keyring.BackendTest, func(d map[string]any) { d["pub_key"] = b64(make([]byte, 31)) }, keyring.ErrCorruptKeyFile, keyring.ErrCorruptKeyFile, "pub_key is 31 bytes, want 32"},
		{"swapped pub key (test)", keyring.BackendTest, func(d map[string]any) {
			d["pub_key"], d["address"] = b64(otherPub), crypto.AddressHex(otherPub)
		}, nil, keyring.ErrCorruptKeyFile, "does not match the stored public key"},
		{"swapped pub key (file)", keyring.BackendFile, func(d map[string]any) {
			d["pub_key"], d["address"] = b64(otherPub), crypto.AddressHex(otherPub)
		}, nil, keyring.ErrWrongPassphrase, "was modified"},
		{"ciphertext", keyring.BackendFile, func(d map[string]any) {
			c := d["cipher"].(map[string]any)
			ct, _ := base64.StdEncoding.DecodeString(c["ciphertext"].(string))
			ct[0] ^= 1
			c["ciphertext"] = b64(ct)
		}, nil, keyring.ErrWrongPassphrase, "wrong passphrase"},
		{"huge kdf memory", keyring.BackendFile, func(d map[string]any) { d["kdf"].(map[string]any)["memory_kib"] = 1 << 30 }, keyring.ErrCorruptKeyFile, keyring.ErrCorruptKeyFile, "kdf memory_kib 1073741824, want 32..1048576"},
		{"zero kdf time", keyring.BackendFile, func(d map[string]any) { d["kdf"].(map[string]any)["time"] = 0 }, keyring.ErrCorruptKeyFile, keyring.ErrCorruptKeyFile, "kdf time 0, want 1..16"},
		{"other kdf", keyring.BackendFile, func(d map[string]any) { d["kdf"].(map[string]any)["name"] = "pbkdf2" }, keyring.ErrCorruptKeyFile, keyring.ErrCorruptKeyFile, `kdf "pbkdf2", want "argon2id"`},
		{"plaintext seed in file key", keyring.BackendFile, func(d map[string]any) { d["priv_key_seed"] = b64(make([]byte, 32)) }, keyring.ErrCorruptKeyFile, keyring.ErrCorruptKeyFile, "unencrypted"},
		{"missing cipher", keyring.BackendFile, func(d map[string]any) { delete(d, "cipher") }, keyring.ErrCorruptKeyFile, keyring.ErrCorruptKeyFile, "lacks"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kr, _ := newKeyring(t, t.TempDir(), c.backend, goodPass)
			if _, err := kr.Import("k", seedKey(5)); err != nil {
				t.Fatal(err)
			}
			edit(t, filepath.Join(kr.Dir(), "k.key"), c.edit)
			_, err := kr.Show("k")
			if c.showErr == nil && err != nil {
				t.Fatalf("Show: %v", err)
			}
			if c.showErr != nil && (!errors.Is(err, c.showErr) || !strings.Contains(err.Error(), c.contains)) {
				t.Fatalf("Show: err = %v, want %v containing %q", err, c.showErr, c.contains)
			}
			_, err = kr.Signer("k")
			if !errors.Is(err, c.signErr) || !strings.Contains(err.Error(), c.contains) {
				t.Fatalf("Signer: err = %v, want %v containing %q", err, c.signErr, c.contains)
			}
		})
	}
}

func TestRefusesSymlinkAndHugeFiles(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinks need privileges on Windows")
	}
	kr, _ := newKeyring(t, t.TempDir(), keyring.BackendTest, "")
	if _, err := kr.Import("real", seedKey(1)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(kr.Dir(), "real.key"), filepath.Join(kr.Dir(), "link.key")); err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Show("link"); !errors.Is(err, keyring.ErrCorruptKeyFile) || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Show of a symlink: err = %v, want ErrCorruptKeyFile", err)
	}
	if err := os.WriteFile(filepath.Join(kr.Dir(), "big.key"), bytes.Repeat([]byte(" "), 70<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Show("big"); !errors.Is(err, keyring.ErrCorruptKeyFile) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Show of a 70 KiB file: err = %v, want ErrCorruptKeyFile", err)
	}
}

func TestImportRejectsBadKeys(t *testing.T) {
	kr, _ := newKeyring(t, t.TempDir(), keyring.BackendTest, "")
	good := seedKey(1)
	mismatched := bytes.Clone(good)
	mismatched[63] ^= 1
	for _, c := range []struct {
		name string
		priv ed25519.PrivateKey
		want string
	}{
		{"nil", nil, "got 0 bytes, want 64"},
		{"seed only", good.Seed(), "got 32 bytes, want 64"},
		{"mismatched halves", mismatched, "public half does not match"},
	} {
		_, err := kr.Import("k", c.priv)
		if !errors.Is(err, keyring.ErrInvalidPrivKey) || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s: err = %v, want ErrInvalidPrivKey containing %q", c.name, err, c.want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := keyring.New(t.TempDir(), "os", nil); !errors.Is(err, keyring.ErrUnknownBackend) || !strings.Contains(err.Error(), `"os": want "file" or "test"`) {
		t.Fatalf("unknown backend: err = %v", err)
	}
	if _, err := keyring.New("", keyring.BackendTest, nil); err == nil || !strings.Contains(err.Error(), "home directory is empty") {
		t.Fatalf("empty home: err = %v", err)
	}
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "keyring-test"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := keyring.New(home, keyring.BackendTest, nil); err == nil {
		t.Fatal("New over a regular file named keyring-test succeeded")
	}
}

func BenchmarkFileAdd(b *testing.B) {
	kr, err := keyring.New(b.TempDir(), keyring.BackendFile, func(string, bool) (string, error) { return goodPass, nil })
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		if _, err := kr.Add(fmt.Sprintf("k%d", i)); err != nil {
			b.Fatal(err)
		}
	}
}

func Example() {
	home, _ := os.MkdirTemp("", "phalanx-keyring-example")
	defer os.RemoveAll(home)

	kr, err := keyring.New(home, keyring.BackendTest, nil)
	if err != nil {
		panic(err)
	}
	seed := make([]byte, ed25519.SeedSize) // use kr.Add to generate a key
	info, err := kr.Import("operator", ed25519.NewKeyFromSeed(seed))
	if err != nil {
		panic(err)
	}
	fmt.Println(info.Name, info.Address, info.Backend)

	priv, err := kr.Signer("operator")
	if err != nil {
		panic(err)
	}
	body := []byte("serialized TxBody")
	fmt.Println(crypto.Verify(info.PubKey, body, crypto.Sign(priv, body)))
	// Output:
	// operator 139E3940E64B5491722088D9A0D741628FC826E0 test
	// true
}
