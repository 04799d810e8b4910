// Package keyring stores ed25519 signing keys on disk for the phalanxd CLI
// and for node operators. It is client-side code: the state machine never
// imports it.
//
// # Layout
//
// New(home, backend, passphrase) uses the directory home/keyring-BACKEND
// (keyring-file or keyring-test), created with mode 0700. Each key is one
// JSON document NAME.key, created with mode 0600. A key name is 1 to
// MaxNameLen characters from [a-zA-Z0-9_.-] and starts with a letter, digit
// or '_' (a leading '.' would hide the file, a leading '-' reads as a CLI
// flag). Names are case-sensitive, but on a case-insensitive file system
// two names that differ only in case collide (ErrKeyExists).
//
// Every key file stores its name, backend, public key and address in clear,
// so List and Show never need a passphrase. Only Signer (and Add/Import on
// the file backend) asks for one.
//
// # Backends
//
// BackendFile seals the 32-byte ed25519 seed with XChaCha20-Poly1305 under a
// 256-bit key derived from the passphrase by argon2id with time=3,
// memory=64 MiB, threads=4: the second recommended option of RFC 9106 §4,
// above every OWASP minimum, and about 130 ms on a 2-core machine, so an
// interactive unlock stays quick while each passphrase guess costs an
// attacker 64 MiB and three passes. A random 16-byte salt and a random
// 24-byte nonce are stored in the file next to the KDF parameters, so the
// parameters can be raised for new keys without breaking old ones. The
// associated data binds the ciphertext to the key's name and public key;
// after decryption the seed must reproduce the stored public key. A new key
// needs a passphrase of at least MinPassphraseLen characters. A failed
// decryption returns ErrWrongPassphrase (it cannot tell a wrong passphrase
// from a modified file). When reading a file the KDF parameters are bounded
// (time ≤ 16, memory ≤ 1 GiB, threads ≤ 64) so a crafted file cannot
// exhaust the machine.
//
// BackendTest stores the seed unencrypted and marks the file with
// "backend": "test" and a warning. It exists for scripts, tests and local
// networks; never use it for keys that hold real roles.
//
// # Passphrases
//
// The PassphraseFunc given to New is called with confirm=true when a key is
// being created (the caller should ask twice and compare) and confirm=false
// when a key is being unlocked. The package never reads the terminal or the
// environment itself; the CLI reads EnvPassphrase or prompts.
//
// # Permissions
//
// Files and the directory are always created strictly (0600, 0700). On load,
// a keyring directory or key file that is writable by group or others is
// refused with ErrInsecurePermissions: whoever can write it can replace a
// key and make you sign with theirs. Read bits for group or others are
// tolerated (file-backend keys are encrypted). Key files must be regular
// files, not symlinks. On Windows the mode bits are not checked.
//
// # Errors
//
// Expected failures wrap one of the sentinel errors (ErrInvalidName,
// ErrKeyExists, ErrKeyNotFound, ErrWrongPassphrase, ErrWeakPassphrase,
// ErrInsecurePermissions, ErrCorruptKeyFile, ErrUnknownBackend,
// ErrInvalidPrivKey, ErrNoPassphrase); test for them with errors.Is.
//
// # Concurrency
//
// A Keyring holds no mutable state and may be used from several goroutines
// and processes at once: a key file is written to a temporary file and
// hard-linked into place, so a concurrent Add of the same name yields one
// key and one ErrKeyExists, and a crash never leaves a half-written key.
package keyring
