package keyring

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/phalanx-bft/phalanx/crypto"
)

// Backend selects how private keys are stored.
type Backend string

const (
	// BackendFile encrypts private keys with a passphrase.
	BackendFile Backend = "file"
	// BackendTest stores private keys unencrypted. Tests and local nets only.
	BackendTest Backend = "test"
)

// EnvPassphrase is the environment variable the CLI reads a file-backend
// passphrase from before prompting (for scripts).
const EnvPassphrase = "PHALANX_KEYRING_PASSPHRASE"

// Limits.
const (
	// MaxNameLen is the longest key name, in characters.
	MaxNameLen = 64
	// MinPassphraseLen is the shortest passphrase accepted for a new
	// file-backend key, in characters (Unicode code points).
	MinPassphraseLen = 8
	// maxKeyFileBytes bounds what is read from a key file.
	maxKeyFileBytes = 64 << 10
)

// Key-derivation parameters for new file-backend keys (see the package doc).
const (
	kdfArgon2id      = "argon2id"
	argonTime        = 3
	argonMemoryKiB   = 64 * 1024
	argonThreads     = 4
	saltLen          = 16
	cipherXChaCha    = "xchacha20-poly1305"
	maxArgonTime     = 16
	maxArgonMemKiB   = 1 << 20 // 1 GiB
	maxArgonThreads  = 64
	fileVersion      = 1
	keyFileExt       = ".key"
	testKeyWarning   = "UNENCRYPTED test key – never use for real funds/roles"
	aadDomain        = "phalanx/keyring/v1\x00"
	dirPerm          = 0o700
	filePerm         = 0o600
	writableByOthers = 0o022
)

// Sentinel errors; returned errors wrap them with details.
var (
	ErrInvalidName         = errors.New("invalid key name")
	ErrKeyExists           = errors.New("key already exists")
	ErrKeyNotFound         = errors.New("key not found")
	ErrWrongPassphrase     = errors.New("wrong passphrase")
	ErrWeakPassphrase      = errors.New("passphrase too short")
	ErrNoPassphrase        = errors.New("no passphrase available")
	ErrInsecurePermissions = errors.New("insecure permissions")
	ErrCorruptKeyFile      = errors.New("corrupt key file")
	ErrUnknownBackend      = errors.New("unknown keyring backend")
	ErrInvalidPrivKey      = errors.New("invalid private key")
)

// PassphraseFunc supplies a passphrase. confirm is true when a new key is
// being encrypted (ask twice and compare), false when a key is unlocked.
type PassphraseFunc func(prompt string, confirm bool) (string, error)

// KeyInfo is the public part of a stored key.
type KeyInfo struct {
	Name    string  `json:"name"`
	Address string  `json:"address"` // upper-case hex, crypto.AddressHex
	PubKey  []byte  `json:"pub_key"` // 32 bytes; base64 in JSON
	Backend Backend `json:"backend"`
}

// Keyring is a directory of key files for one backend.
type Keyring struct {
	dir        string
	backend    Backend
	passphrase PassphraseFunc
}

// New opens (creating if needed, mode 0700) the keyring directory
// home/keyring-BACKEND. passphrase may be nil for BackendTest, and for
// BackendFile when only List, Show and Delete are used.
func New(home string, backend Backend, passphrase func(prompt string, confirm bool) (string, error)) (*Keyring, error) {
	switch backend {
	case BackendFile, BackendTest:
	default:
		return nil, fmt.Errorf("%w %q: want %q or %q", ErrUnknownBackend, string(backend), BackendFile, BackendTest)
	}
	if home == "" {
		return nil, errors.New("keyring home directory is empty: want a directory such as $HOME/.phalanx")
	}
	dir := filepath.Join(home, "keyring-"+string(backend))
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return nil, fmt.Errorf("create keyring directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, fmt.Errorf("open keyring directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("keyring path %s is not a directory (mode %s): want a directory with mode 0700", dir, fi.Mode())
	}
	if err := checkPerm(dir, fi, dirPerm); err != nil {
		return nil, err
	}
	return &Keyring{dir: dir, backend: backend, passphrase: passphrase}, nil
}

// Dir returns the directory holding the key files.
func (k *Keyring) Dir() string { return k.dir }

// Backend returns the keyring's backend.
func (k *Keyring) Backend() Backend { return k.backend }

// Add generates a new key and stores it under name.
func (k *Keyring) Add(name string) (KeyInfo, error) {
	if err := ValidateName(name); err != nil {
		return KeyInfo{}, err
	}
	_, priv, err := crypto.GenerateKey(nil)
	if err != nil {
		return KeyInfo{}, err
	}
	return k.store(name, priv)
}

// Import stores an existing private key under name.
func (k *Keyring) Import(name string, priv ed25519.PrivateKey) (KeyInfo, error) {
	if err := ValidateName(name); err != nil {
		return KeyInfo{}, err
	}
	if len(priv) != ed25519.PrivateKeySize {
		return KeyInfo{}, fmt.Errorf("%w: got %d bytes, want %d (ed25519 seed || public key)", ErrInvalidPrivKey, len(priv), ed25519.PrivateKeySize)
	}
	if !bytes.Equal(ed25519.NewKeyFromSeed(priv.Seed()), priv) {
		return KeyInfo{}, fmt.Errorf("%w: its public half does not match the public key derived from its seed", ErrInvalidPrivKey)
	}
	return k.store(name, priv)
}

// List returns every key in the keyring, sorted by name. Files whose names
// are not NAME.key with a valid NAME are ignored.
func (k *Keyring) List() ([]KeyInfo, error) {
	entries, err := os.ReadDir(k.dir)
	if err != nil {
		return nil, fmt.Errorf("list keyring %s: %w", k.dir, err)
	}
	var out []KeyInfo
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), keyFileExt)
		if !ok || ValidateName(name) != nil {
			continue
		}
		kf, err := k.load(name)
		if err != nil {
			return nil, err
		}
		out = append(out, kf.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Show returns the public part of key name. It needs no passphrase.
func (k *Keyring) Show(name string) (KeyInfo, error) {
	if err := ValidateName(name); err != nil {
		return KeyInfo{}, err
	}
	kf, err := k.load(name)
	if err != nil {
		return KeyInfo{}, err
	}
	return kf.info(), nil
}

// Delete removes key name. It needs no passphrase; confirming with the user
// is the caller's job.
func (k *Keyring) Delete(name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	err := os.Remove(k.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return k.notFound(name)
	}
	if err != nil {
		return fmt.Errorf("delete key %q: %w", name, err)
	}
	return syncDir(k.dir)
}

// Signer returns the private key stored under name, decrypting it (and so
// asking for the passphrase) on the file backend.
func (k *Keyring) Signer(name string) (ed25519.PrivateKey, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	kf, err := k.load(name)
	if err != nil {
		return nil, err
	}
	var seed []byte
	switch kf.Backend {
	case BackendTest:
		seed = kf.PrivKeySeed
	case BackendFile:
		pass, err := k.askPassphrase(fmt.Sprintf("Enter passphrase for key %q: ", name), false, name)
		if err != nil {
			return nil, err
		}
		aead, err := chacha20poly1305.NewX(deriveKey(pass, kf.KDF))
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", name, err)
		}
		seed, err = aead.Open(nil, kf.Cipher.Nonce, kf.Cipher.Ciphertext, aad(name, kf.PubKey))
		if err != nil {
			return nil, fmt.Errorf("%w for key %q (or %s was modified)", ErrWrongPassphrase, name, k.path(name))
		}
	}
	priv := ed25519.NewKeyFromSeed(seed)
	if !bytes.Equal(priv.Public().(ed25519.PublicKey), kf.PubKey) {
		return nil, fmt.Errorf("%w %s: the private key does not match the stored public key", ErrCorruptKeyFile, k.path(name))
	}
	return priv, nil
}

// ValidateName checks a key name against the rules in the package doc. The
// returned error wraps ErrInvalidName.
func ValidateName(name string) error {
	const want = "want 1-64 characters from a-z, A-Z, 0-9, '_', '.', '-', starting with a letter, digit or '_'"
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("%w %q: length %d; %s", ErrInvalidName, name, len(name), want)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' ||
			i > 0 && (c == '.' || c == '-')
		if !ok {
			return fmt.Errorf("%w %q: character %q at position %d is not allowed; %s", ErrInvalidName, name, c, i, want)
		}
	}
	return nil
}

// keyFile is the JSON document in NAME.key.
type keyFile struct {
	Version int     `json:"version"`
	Name    string  `json:"name"`
	Backend Backend `json:"backend"`
	Warning string  `json:"warning,omitempty"`
	Address string  `json:"address"`
	PubKey  []byte  `json:"pub_key"`
	// BackendTest only: the unencrypted 32-byte ed25519 seed.
	PrivKeySeed []byte `json:"priv_key_seed,omitempty"`
	// BackendFile only.
	KDF    *kdfParams `json:"kdf,omitempty"`
	Cipher *sealed    `json:"cipher,omitempty"`
}

type kdfParams struct {
	Name      string `json:"name"`
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memory_kib"`
	Threads   uint8  `json:"threads"`
	Salt      []byte `json:"salt"`
}

type sealed struct {
	Name       string `json:"name"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

func (kf *keyFile) info() KeyInfo {
	return KeyInfo{Name: kf.Name, Address: kf.Address, PubKey: kf.PubKey, Backend: kf.Backend}
}

func (k *Keyring) path(name string) string { return filepath.Join(k.dir, name+keyFileExt) }

func (k *Keyring) notFound(name string) error {
	return fmt.Errorf("%w: no key named %q in %s (%s backend); see 'keys list'", ErrKeyNotFound, name, k.dir, k.backend)
}

func (k *Keyring) exists(name string) error {
	return fmt.Errorf("%w: a key named %q is already in %s; choose another name or delete it first", ErrKeyExists, name, k.dir)
}

func (k *Keyring) askPassphrase(prompt string, confirm bool, name string) (string, error) {
	if k.passphrase == nil {
		return "", fmt.Errorf("%w for key %q: the %s backend needs a passphrase and none was configured", ErrNoPassphrase, name, k.backend)
	}
	pass, err := k.passphrase(prompt, confirm)
	if err != nil {
		return "", fmt.Errorf("read passphrase for key %q: %w", name, err)
	}
	return pass, nil
}

func (k *Keyring) store(name string, priv ed25519.PrivateKey) (KeyInfo, error) {
	// Fail fast on a duplicate before asking for a passphrase; the link in
	// writeNew is the authoritative check.
	if _, err := os.Lstat(k.path(name)); err == nil {
		return KeyInfo{}, k.exists(name)
	}
	pub := priv.Public().(ed25519.PublicKey)
	kf := keyFile{
		Version: fileVersion,
		Name:    name,
		Backend: k.backend,
		Address: crypto.AddressHex(pub),
		PubKey:  pub,
	}
	switch k.backend {
	case BackendTest:
		kf.Warning = testKeyWarning
		kf.PrivKeySeed = priv.Seed()
	case BackendFile:
		pass, err := k.askPassphrase(fmt.Sprintf("Enter passphrase to encrypt key %q: ", name), true, name)
		if err != nil {
			return KeyInfo{}, err
		}
		if n := utf8.RuneCountInString(pass); n < MinPassphraseLen {
			return KeyInfo{}, fmt.Errorf("%w for key %q: got %d characters, want at least %d", ErrWeakPassphrase, name, n, MinPassphraseLen)
		}
		kdf := &kdfParams{Name: kdfArgon2id, Time: argonTime, MemoryKiB: argonMemoryKiB, Threads: argonThreads, Salt: make([]byte, saltLen)}
		nonce := make([]byte, chacha20poly1305.NonceSizeX)
		if _, err := io.ReadFull(rand.Reader, kdf.Salt); err != nil {
			return KeyInfo{}, fmt.Errorf("read random salt: %w", err)
		}
		if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
			return KeyInfo{}, fmt.Errorf("read random nonce: %w", err)
		}
		aead, err := chacha20poly1305.NewX(deriveKey(pass, kdf))
		if err != nil {
			return KeyInfo{}, err
		}
		kf.KDF = kdf
		kf.Cipher = &sealed{Name: cipherXChaCha, Nonce: nonce, Ciphertext: aead.Seal(nil, nonce, priv.Seed(), aad(name, pub))}
	}
	data, err := json.MarshalIndent(&kf, "", "  ")
	if err != nil {
		return KeyInfo{}, fmt.Errorf("encode key %q: %w", name, err)
	}
	if err := k.writeNew(name, append(data, '\n')); err != nil {
		return KeyInfo{}, err
	}
	return kf.info(), nil
}

// writeNew writes data to NAME.key without ever overwriting an existing
// file or leaving a partial one: temp file, fsync, hard link, fsync dir.
func (k *Keyring) writeNew(name string, data []byte) error {
	tmp, err := os.CreateTemp(k.dir, ".tmp-*") // mode 0600
	if err != nil {
		return fmt.Errorf("write key %q: %w", name, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := tmp.Chmod(filePerm); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return fmt.Errorf("write key %q: %w", name, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write key %q: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write key %q: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write key %q: %w", name, err)
	}
	if err := os.Link(tmpName, k.path(name)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return k.exists(name)
		}
		return fmt.Errorf("write key %q: %w", name, err)
	}
	return syncDir(k.dir)
}

// load reads and checks NAME.key.
func (k *Keyring) load(name string) (*keyFile, error) {
	path := k.path(name)
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, k.notFound(name)
	}
	if err != nil {
		return nil, fmt.Errorf("read key %q: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w %s: not a regular file (mode %s); want a plain file with mode 0600", ErrCorruptKeyFile, path, fi.Mode())
	}
	if err := checkKeyFilePerm(path, fi); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read key %q: %w", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read key %q: %w", name, err)
	}
	if len(data) > maxKeyFileBytes {
		return nil, fmt.Errorf("%w %s: larger than %d bytes", ErrCorruptKeyFile, path, maxKeyFileBytes)
	}
	var kf keyFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&kf); err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrCorruptKeyFile, path, err)
	}
	if err := k.check(&kf, name); err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrCorruptKeyFile, path, err)
	}
	return &kf, nil
}

// check validates a decoded key file against its name and the keyring.
func (k *Keyring) check(kf *keyFile, name string) error {
	switch {
	case kf.Version != fileVersion:
		return fmt.Errorf("version %d, want %d", kf.Version, fileVersion)
	case kf.Name != name:
		return fmt.Errorf("holds key name %q, want %q (the file name)", kf.Name, name)
	case kf.Backend != k.backend:
		return fmt.Errorf("backend %q, want %q (this keyring's backend)", kf.Backend, k.backend)
	case len(kf.PubKey) != crypto.PubKeyLen:
		return fmt.Errorf("pub_key is %d bytes, want %d", len(kf.PubKey), crypto.PubKeyLen)
	case kf.Address != crypto.AddressHex(kf.PubKey):
		return fmt.Errorf("address %s does not match pub_key (want %s)", kf.Address, crypto.AddressHex(kf.PubKey))
	}
	switch kf.Backend {
	case BackendTest:
		if len(kf.PrivKeySeed) != ed25519.SeedSize {
			return fmt.Errorf("priv_key_seed is %d bytes, want %d", len(kf.PrivKeySeed), ed25519.SeedSize)
		}
		if kf.KDF != nil || kf.Cipher != nil {
			return errors.New("test-backend key has kdf or cipher fields")
		}
	case BackendFile:
		if kf.PrivKeySeed != nil {
			return errors.New("file-backend key holds an unencrypted priv_key_seed")
		}
		if kf.KDF == nil || kf.Cipher == nil {
			return errors.New("file-backend key lacks its kdf or cipher fields")
		}
		p := kf.KDF
		switch {
		case p.Name != kdfArgon2id:
			return fmt.Errorf("kdf %q, want %q", p.Name, kdfArgon2id)
		case p.Time < 1 || p.Time > maxArgonTime:
			return fmt.Errorf("kdf time %d, want 1..%d", p.Time, maxArgonTime)
		case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxArgonMemKiB:
			return fmt.Errorf("kdf memory_kib %d, want %d..%d", p.MemoryKiB, 8*uint32(p.Threads), maxArgonMemKiB)
		case p.Threads < 1 || p.Threads > maxArgonThreads:
			return fmt.Errorf("kdf threads %d, want 1..%d", p.Threads, maxArgonThreads)
		case len(p.Salt) != saltLen:
			return fmt.Errorf("kdf salt is %d bytes, want %d", len(p.Salt), saltLen)
		}
		c := kf.Cipher
		switch {
		case c.Name != cipherXChaCha:
			return fmt.Errorf("cipher %q, want %q", c.Name, cipherXChaCha)
		case len(c.Nonce) != chacha20poly1305.NonceSizeX:
			return fmt.Errorf("nonce is %d bytes, want %d", len(c.Nonce), chacha20poly1305.NonceSizeX)
		case len(c.Ciphertext) != ed25519.SeedSize+chacha20poly1305.Overhead:
			return fmt.Errorf("ciphertext is %d bytes, want %d", len(c.Ciphertext), ed25519.SeedSize+chacha20poly1305.Overhead)
		}
	}
	return nil
}

func deriveKey(passphrase string, p *kdfParams) []byte {
	return argon2.IDKey([]byte(passphrase), p.Salt, p.Time, p.MemoryKiB, p.Threads, chacha20poly1305.KeySize)
}

// aad binds a ciphertext to the key's name and public key.
func aad(name string, pub []byte) []byte {
	b := make([]byte, 0, len(aadDomain)+len(name)+1+len(pub))
	b = append(b, aadDomain...)
	b = append(b, name...)
	b = append(b, 0)
	return append(b, pub...)
}

func checkPerm(path string, fi fs.FileInfo, want fs.FileMode) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	if mode := fi.Mode().Perm(); mode&writableByOthers != 0 {
		return fmt.Errorf("%w: %s has mode %04o, writable by group or others; want %04o (fix: chmod %o %s)",
			ErrInsecurePermissions, path, mode, want, want, path)
	}
	return nil
}

// checkKeyFilePerm refuses a key file that anyone but its owner may read
// or write: in the test backend it holds a plaintext seed, in the file
// backend a ciphertext open to offline guessing.
func checkKeyFilePerm(path string, fi fs.FileInfo) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	if mode := fi.Mode().Perm(); mode&0o077 != 0 {
		return fmt.Errorf("%w: key file %s has mode %04o, open to group or others; want %04o (fix: chmod %o %s)",
			ErrInsecurePermissions, path, mode, filePerm, filePerm, path)
	}
	return nil
}

// syncDir makes a link or unlink in dir durable. Not supported on Windows.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync keyring directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync keyring directory: %w", err)
	}
	return nil
}
