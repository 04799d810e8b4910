package networks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/phalanx-bft/phalanx/node"
)

// ManifestFile is the name of the manifest InitTestnet writes into the
// network directory.
const ManifestFile = "testnet.json"

// manifestVersion is the format version of testnet.json.
const manifestVersion = 1

// Network modes.
const (
	// ModeLoopback: every validator on this machine, on 127.0.0.1, each with
	// its own ports; Start can supervise them.
	ModeLoopback = "loopback"
	// ModeMultiHost: one validator per host, standard ports; each home is
	// copied to its host and started there.
	ModeMultiHost = "multi-host"
)

// Sentinel errors; returned errors wrap them with details.
var (
	ErrNoManifest     = errors.New("no testnet manifest")
	ErrBadManifest    = errors.New("invalid testnet manifest")
	ErrExists         = errors.New("testnet already exists")
	ErrAlreadyRunning = errors.New("validator already running")
	ErrNotLocal       = errors.New("not a loopback network")
	ErrUnknownName    = errors.New("unknown validator")
)

// Manifest is DIR/testnet.json: what InitTestnet created and where each
// validator listens. Start, Stop and Status work from it.
type Manifest struct {
	Version int    `json:"version"`
	ChainID string `json:"chain_id"`
	Mode    string `json:"mode"` // ModeLoopback or ModeMultiHost
	// BlockTime is the consensus timeout_commit written to every config,
	// as a Go duration ("1s", "200ms").
	BlockTime string `json:"block_time"`
	// AdminKey names the key in KeyringDir that holds the admin, operator
	// and observer roles in genesis; AdminAddress is its address.
	AdminKey     string `json:"admin_key"`
	AdminAddress string `json:"admin_address"`
	// KeyringDir is the test-backend keyring (DIR/keyring-test); CLI
	// commands reach it with --keyring-backend test --home DIR.
	KeyringDir     string      `json:"keyring_dir"`
	KeyringBackend string      `json:"keyring_backend"`
	Validators     []Validator `json:"validators"`
	// Agents are the worker agents written by init --agents (agents.go).
	Agents []Agent `json:"agents,omitempty"`
	// Observers: start one observer per validator even without agents
	// (init --fleet); with agents they always run.
	Observers bool `json:"observers,omitempty"`

	// Dir is the directory the manifest was loaded from or written to.
	Dir string `json:"-"`
}

// Validator is one validator of a Manifest.
type Validator struct {
	Name    string `json:"name"`    // "val0"; also the CometBFT moniker
	Home    string `json:"home"`    // absolute path of its home directory
	Host    string `json:"host"`    // 127.0.0.1, or the host name / IP it runs on
	NodeID  string `json:"node_id"` // CometBFT p2p node id
	Address string `json:"address"` // consensus (validator) address, upper-case hex
	// RPC is the CometBFT RPC endpoint as --node takes it. In multi-host
	// mode without public RPC it is the loopback address on the validator's
	// own host.
	RPC string `json:"rpc"`
	// P2P is the peer address, NODE_ID@HOST:PORT.
	P2P string `json:"p2p"`
	// Prometheus is the metrics listen address, empty with metrics off.
	Prometheus string `json:"prometheus,omitempty"`
	// Observer names the key of this validator's observer account in the
	// keyring; ObserverAddress is its address.
	Observer        string `json:"observer"`
	ObserverAddress string `json:"observer_address"`
	// TestApp, for benchmarks only, names the ABCI application the
	// validator runs instead of Phalanx (node.TestAppKVStore); empty is
	// Phalanx. Start passes it as `start --test-app`.
	TestApp string `json:"test_app,omitempty"`
}

// Path is the manifest file of network directory dir.
func Path(dir string) string { return filepath.Join(dir, ManifestFile) }

// LoadManifest reads DIR/testnet.json. Relative homes are taken relative
// to dir.
func LoadManifest(dir string) (*Manifest, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(Path(abs))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist; create the network with `phalanxd testnet init --output %s`", ErrNoManifest, Path(dir), dir)
	}
	if err != nil {
		return nil, fmt.Errorf("read testnet manifest: %w", err)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrBadManifest, Path(dir), err)
	}
	m.Dir = abs
	for i := range m.Validators {
		if h := m.Validators[i].Home; h != "" && !filepath.IsAbs(h) {
			m.Validators[i].Home = filepath.Join(abs, h)
		}
	}
	for i := range m.Agents {
		if h := m.Agents[i].Home; h != "" && !filepath.IsAbs(h) {
			m.Agents[i].Home = filepath.Join(abs, h)
		}
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", Path(dir), err)
	}
	return &m, nil
}

// Validate checks the manifest's structure.
func (m *Manifest) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadManifest, fmt.Sprintf(format, args...))
	}
	switch {
	case m.Version != manifestVersion:
		return bad("version %d; this phalanxd reads version %d", m.Version, manifestVersion)
	case m.ChainID == "":
		return bad("chain_id is empty")
	case m.Mode != ModeLoopback && m.Mode != ModeMultiHost:
		return bad("mode %q; want %q or %q", m.Mode, ModeLoopback, ModeMultiHost)
	case len(m.Validators) == 0:
		return bad("no validators")
	case len(m.Validators) > MaxValidators:
		return bad("%d validators; the limit is %d", len(m.Validators), MaxValidators)
	}
	seen := make(map[string]bool, len(m.Validators))
	for i, v := range m.Validators {
		switch {
		case v.Name == "":
			return bad("validator %d has no name", i)
		case seen[v.Name]:
			return bad("validator name %q listed twice", v.Name)
		case v.Home == "":
			return bad("validator %s has no home", v.Name)
		case v.RPC == "":
			return bad("validator %s has no rpc address", v.Name)
		}
		if err := node.ValidTestApp(v.TestApp); err != nil {
			return bad("validator %s: %v", v.Name, err)
		}
		seen[v.Name] = true
	}
	return validateAgents(m)
}

// Save writes the manifest to m.Dir/testnet.json (0600) through a
// temporary file, so a reader never sees half of it.
func (m *Manifest) Save() error {
	if m.Dir == "" {
		return errors.New("manifest has no directory; set Manifest.Dir")
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(m.Dir, ".testnet-*.json")
	if err != nil {
		return fmt.Errorf("write testnet manifest: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write testnet manifest: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write testnet manifest: %w", err)
	}
	if err := os.Rename(tmp.Name(), Path(m.Dir)); err != nil {
		return fmt.Errorf("write testnet manifest: %w", err)
	}
	return nil
}

// Select returns the validators named in names, in manifest order; no
// names means all of them. An unknown name is an error that lists the
// known ones.
func (m *Manifest) Select(names []string) ([]Validator, error) {
	if len(names) == 0 {
		return append([]Validator(nil), m.Validators...), nil
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	var out []Validator
	for _, v := range m.Validators {
		if want[v.Name] {
			out = append(out, v)
			delete(want, v.Name)
		}
	}
	for _, n := range names {
		if want[n] {
			return nil, fmt.Errorf("%w %q in %s: want one of %s", ErrUnknownName, n, Path(m.Dir), m.names())
		}
	}
	return out, nil
}

func (m *Manifest) names() string {
	var b bytes.Buffer
	for i, v := range m.Validators {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(v.Name)
	}
	return b.String()
}

// requireLoopback refuses process management of a multi-host network.
func (m *Manifest) requireLoopback(what string) error {
	if m.Mode == ModeLoopback {
		return nil
	}
	return fmt.Errorf("%w: %s describes a %s network (val0 on %s); cannot %s it from here: copy each DIR/valI to its host and run `phalanxd start --home …` there (docs/networks.md)",
		ErrNotLocal, Path(m.Dir), m.Mode, m.Validators[0].Host, what)
}
