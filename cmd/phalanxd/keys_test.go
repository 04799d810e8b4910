package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/crypto/keyring"
)

// runKeys runs `keys ARGS…` with stdin and returns stdout, stderr and the
// error.
func runKeys(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := keysCmd()
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

// noEnvPassphrase makes sure passphrases come from stdin.
func noEnvPassphrase(t *testing.T) {
	t.Helper()
	t.Setenv(keyring.EnvPassphrase, "") // restores the original value after the test
	os.Unsetenv(keyring.EnvPassphrase)
}

func TestKeysCommandsTestBackend(t *testing.T) {
	noEnvPassphrase(t)
	home := t.TempDir()
	flags := []string{"--home", home, "--keyring-backend", "test"}
	run := func(stdin string, args ...string) (string, string, error) {
		return runKeys(t, stdin, append(args, flags...)...)
	}

	out, errOut, err := run("", "add", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut, "UNENCRYPTED") {
		t.Fatalf("add on the test backend printed no warning; stderr %q", errOut)
	}
	kr, err := keyring.New(home, keyring.BackendTest, nil)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := kr.Show("alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"name:    alice", "address: " + alice.Address, "pub_key: " + base64.StdEncoding.EncodeToString(alice.PubKey)} {
		if !strings.Contains(out, want+"\n") {
			t.Fatalf("add output %q lacks %q", out, want)
		}
	}

	out, _, err = run("", "add", "bob", "--output", "json")
	if err != nil {
		t.Fatal(err)
	}
	var bob keyring.KeyInfo
	if err := json.Unmarshal([]byte(out), &bob); err != nil {
		t.Fatalf("add --output json printed %q: %v", out, err)
	}
	if bob.Name != "bob" || bob.Address != crypto.AddressHex(bob.PubKey) || bob.Backend != keyring.BackendTest {
		t.Fatalf("add --output json = %+v", bob)
	}

	out, _, err = run("", "show", "alice", "-a")
	if err != nil {
		t.Fatal(err)
	}
	if out != alice.Address+"\n" {
		t.Fatalf("show -a printed %q, want only the address %s", out, alice.Address)
	}
	out, _, err = run("", "show", "bob", "--address", "--output", "json")
	if err != nil || out != bob.Address+"\n" {
		t.Fatalf("show --address --output json = %q, %v; want only the address", out, err)
	}

	out, _, err = run("", "list", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list []keyring.KeyInfo
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "alice" || list[1].Name != "bob" || list[1].Address != bob.Address {
		t.Fatalf("list -o json = %+v, want alice then bob", list)
	}
	out, _, err = run("", "list")
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[1], "alice ") || !strings.Contains(lines[2], bob.Address) {
		t.Fatalf("list printed %q, want a header, then alice, then bob", out)
	}

	for _, answer := range []string{"", "n\n", "no\n", "yess\n"} {
		if _, _, err := run(answer, "delete", "bob"); err == nil || !strings.Contains(err.Error(), "not confirmed") {
			t.Fatalf("delete answered %q: err = %v, want not confirmed", answer, err)
		}
	}
	if _, err := kr.Show("bob"); err != nil {
		t.Fatalf("an unconfirmed delete removed the key: %v", err)
	}
	if out, _, err = run("y\n", "delete", "bob"); err != nil || !strings.Contains(out, bob.Address) {
		t.Fatalf("delete answered y: %q, %v", out, err)
	}
	if _, _, err := run("", "delete", "alice", "--yes"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run("", "show", "alice"); !errors.Is(err, keyring.ErrKeyNotFound) {
		t.Fatalf("show after delete: err = %v, want ErrKeyNotFound", err)
	}
	out, errOut, err = run("", "list", "-o", "json")
	if err != nil || strings.TrimSpace(out) != "[]" {
		t.Fatalf("list -o json of an empty keyring = %q, %v; want []", out, err)
	}
	out, errOut, err = run("", "list")
	if err != nil || out != "" || !strings.Contains(errOut, "no keys") {
		t.Fatalf("list of an empty keyring: stdout %q, stderr %q, %v", out, errOut, err)
	}
}

func TestKeysCommandErrors(t *testing.T) {
	noEnvPassphrase(t)
	home := t.TempDir()
	cases := []struct {
		args []string
		want error
		msg  string
	}{
		{[]string{"add", "a/b", "--keyring-backend", "test"}, keyring.ErrInvalidName, "invalid key name"},
		{[]string{"add", "x", "--keyring-backend", "os"}, keyring.ErrUnknownBackend, `"os": want "file" or "test"`},
		{[]string{"show", "x", "--keyring-backend", "test", "-o", "yaml"}, nil, `invalid --output "yaml"`},
		{[]string{"show", "missing", "--keyring-backend", "test"}, keyring.ErrKeyNotFound, `no key named "missing"`},
		{[]string{"delete", "missing", "--keyring-backend", "test", "--yes"}, keyring.ErrKeyNotFound, `no key named "missing"`},
		{[]string{"add", "--keyring-backend", "test"}, nil, "accepts 1 arg(s), received 0"},
	}
	for _, c := range cases {
		_, _, err := runKeys(t, "", append(c.args, "--home", home)...)
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("keys %s: err = %v, want %v containing %q", strings.Join(c.args, " "), err, c.want, c.msg)
		}
	}
}

func TestKeysFileBackendPassphrases(t *testing.T) {
	noEnvPassphrase(t)
	home := t.TempDir()
	flags := []string{"--home", home} // file is the default backend

	// From standard input, asked twice.
	if _, _, err := runKeys(t, "stdin-pass-1\nstdin-pass-1\n", append([]string{"add", "k1"}, flags...)...); err != nil {
		t.Fatal(err)
	}
	_, _, err := runKeys(t, "stdin-pass-1\nstdin-pass-2\n", append([]string{"add", "k2"}, flags...)...)
	if err == nil || !strings.Contains(err.Error(), "do not match") {
		t.Fatalf("add with two different passphrases: err = %v", err)
	}
	_, _, err = runKeys(t, "", append([]string{"add", "k2"}, flags...)...)
	if err == nil || !strings.Contains(err.Error(), keyring.EnvPassphrase) {
		t.Fatalf("add with no passphrase available: err = %v, want a hint naming %s", err, keyring.EnvPassphrase)
	}

	// From the environment, not asked.
	t.Setenv(keyring.EnvPassphrase, "env-pass-123")
	if _, _, err := runKeys(t, "", append([]string{"add", "k3"}, flags...)...); err != nil {
		t.Fatal(err)
	}

	for name, pass := range map[string]string{"k1": "stdin-pass-1", "k3": "env-pass-123"} {
		kr, err := keyring.New(home, keyring.BackendFile, func(string, bool) (string, error) { return pass, nil })
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kr.Signer(name); err != nil {
			t.Fatalf("Signer(%s) with the passphrase given to the CLI: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(home, "keyring-file", "k2.key")); !os.IsNotExist(err) {
		t.Fatalf("a failed add left k2.key behind (stat err %v)", err)
	}
}
