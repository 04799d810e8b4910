package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/phalanx-bft/phalanx/types"
)

// Genesis is the application part of a chain's genesis (CometBFT's
// app_state).
type Genesis struct {
	Params   types.Params
	Accounts []types.GenesisAccount
}

// genesisJSON is the app_state format:
//
//	{"params": {<ParamsView fields>},
//	 "accounts": [{"address": "<UPPER HEX>", "pub_key": "<base64, optional>",
//	               "roles": ["admin", "operator", "observer", "node"],
//	               "validator_address": "<UPPER HEX, optional>"}]}
//
// validator_address links an (observer) account to the CometBFT validator
// it observes for: the validator's address, the first 20 bytes of SHA-256
// of its ed25519 consensus public key, as CometBFT shows it. Misbehaviour
// evidence against that validator jails the account.
type genesisJSON struct {
	Params   *json.RawMessage     `json:"params,omitempty"`
	Accounts []genesisAccountJSON `json:"accounts"`
}

type genesisAccountJSON struct {
	Address          string   `json:"address"`
	PubKey           []byte   `json:"pub_key,omitempty"`
	Roles            []string `json:"roles"`
	ValidatorAddress string   `json:"validator_address,omitempty"`
}

// ParseGenesis reads the app_state JSON. Empty or "null" input gives the
// default parameters and no accounts. Params fields that are missing take
// their DefaultParams value; unknown fields anywhere are an error. The
// result is validated: params as by ValidateParams, each address 20 bytes of
// hex and unique, a pub_key (if given) 32 bytes whose address is the
// account's, roles known words without duplicates, a validator_address (if
// given) 20 bytes of hex named by one account only. Errors wrap ErrBadGenesis
// (or ErrInvalidParams).
func ParseGenesis(appState []byte) (*Genesis, error) {
	trimmed := bytes.TrimSpace(appState)
	g := &Genesis{Params: DefaultParams()}
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return g, nil
	}
	var raw genesisJSON
	if err := DecodeStrict(trimmed, &raw); err != nil {
		return nil, Errorf(ErrBadGenesis, "genesis app_state: %v", err)
	}
	if raw.Params != nil {
		pv := NewParamsView(DefaultParams())
		if err := DecodeStrict(*raw.Params, &pv); err != nil {
			return nil, Errorf(ErrBadGenesis, "genesis app_state params: %v", err)
		}
		g.Params = pv.Params()
	}
	if err := ValidateParams(g.Params); err != nil {
		return nil, err
	}
	if len(raw.Accounts) > MaxAccounts {
		return nil, Errorf(ErrBadGenesis, "genesis has %d accounts; the limit is %d", len(raw.Accounts), MaxAccounts)
	}
	seen := make(map[string]bool, len(raw.Accounts))
	seenVal := map[string]string{}
	for i, a := range raw.Accounts {
		addr, ok := ParseAddrHex(a.Address)
		if !ok {
			return nil, Errorf(ErrBadGenesis, "genesis account %d: address %q is not %d bytes of hex", i, a.Address, AddressLen)
		}
		key := AddrHex(addr)
		if seen[key] {
			return nil, Errorf(ErrBadGenesis, "genesis account %d: address %s listed twice", i, key)
		}
		seen[key] = true
		if len(a.PubKey) != 0 {
			if len(a.PubKey) != PubKeyLen {
				return nil, Errorf(ErrBadGenesis, "genesis account %s: pub_key is %d bytes; want %d", key, len(a.PubKey), PubKeyLen)
			}
			if !bytes.Equal(addressOf(a.PubKey), addr) {
				return nil, Errorf(ErrBadGenesis, "genesis account %s: pub_key belongs to address %s", key, AddrHex(addressOf(a.PubKey)))
			}
		}
		var roles []types.Role
		for _, name := range a.Roles {
			r, ok := ParseRole(name)
			if !ok {
				return nil, Errorf(ErrBadGenesis, "genesis account %s: unknown role %q; want admin, operator, observer or node", key, name)
			}
			if HasRole(roles, r) {
				return nil, Errorf(ErrBadGenesis, "genesis account %s: role %s listed twice", key, name)
			}
			roles = AddRole(roles, r)
		}
		var valAddr []byte
		if a.ValidatorAddress != "" {
			if valAddr, ok = ParseAddrHex(a.ValidatorAddress); !ok {
				return nil, Errorf(ErrBadGenesis, "genesis account %s: validator_address %q is not %d bytes of hex", key, a.ValidatorAddress, AddressLen)
			}
			if other, dup := seenVal[AddrHex(valAddr)]; dup {
				return nil, Errorf(ErrBadGenesis, "genesis accounts %s and %s name the same validator_address %s", other, key, AddrHex(valAddr))
			}
			seenVal[AddrHex(valAddr)] = key
		}
		g.Accounts = append(g.Accounts, types.GenesisAccount{Address: addr, PubKey: a.PubKey, Roles: roles, ValidatorAddress: valAddr})
	}
	return g, nil
}

// MarshalJSON writes the app_state format ParseGenesis reads, every params
// field present.
func (g *Genesis) MarshalJSON() ([]byte, error) {
	pv := json.RawMessage(mustJSON(NewParamsView(g.Params)))
	out := genesisJSON{Params: &pv, Accounts: []genesisAccountJSON{}}
	for _, a := range g.Accounts {
		ja := genesisAccountJSON{Address: AddrHex(a.Address), PubKey: a.PubKey, Roles: []string{}}
		if len(a.ValidatorAddress) != 0 {
			ja.ValidatorAddress = AddrHex(a.ValidatorAddress)
		}
		for _, r := range a.Roles {
			ja.Roles = append(ja.Roles, RoleName(r))
		}
		out.Accounts = append(out.Accounts, ja)
	}
	return json.Marshal(out)
}

// DecodeStrict decodes one JSON value into v; unknown fields and trailing
// data are errors. Only white space may follow the value (the decoder's
// More reports false at a stray ']' or '}': FuzzWorkloadSpecJSON's
// regression `{...}]`).
func DecodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if len(bytes.Trim(b[dec.InputOffset():], " \t\r\n")) != 0 {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}

// mustJSON marshals a value whose types cannot fail to encode.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("app: marshal %T: %v", v, err))
	}
	return b
}

// Role names, as users write them.
var roleNames = map[types.Role]string{
	types.ROLE_ADMIN:    "admin",
	types.ROLE_OPERATOR: "operator",
	types.ROLE_OBSERVER: "observer",
	types.ROLE_NODE:     "node",
}

// RoleName is the lower-case word for a role ("admin", …).
func RoleName(r types.Role) string {
	if n, ok := roleNames[r]; ok {
		return n
	}
	return fmt.Sprintf("role(%d)", int32(r))
}

// ParseRole reads a role word, case-insensitively.
func ParseRole(s string) (types.Role, bool) {
	switch strings.ToLower(s) {
	case "admin":
		return types.ROLE_ADMIN, true
	case "operator":
		return types.ROLE_OPERATOR, true
	case "observer":
		return types.ROLE_OBSERVER, true
	case "node":
		return types.ROLE_NODE, true
	}
	return types.ROLE_UNSPECIFIED, false
}

// ValidRole reports whether r is a known role.
func ValidRole(r types.Role) bool { _, ok := roleNames[r]; return ok }

// HasRole reports whether roles holds r.
func HasRole(roles []types.Role, r types.Role) bool {
	for _, x := range roles {
		if x == r {
			return true
		}
	}
	return false
}

// AddRole returns roles with r added, sorted, without duplicates.
func AddRole(roles []types.Role, r types.Role) []types.Role {
	if HasRole(roles, r) {
		return roles
	}
	out := append(append([]types.Role(nil), roles...), r)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// RemoveRole returns roles without r.
func RemoveRole(roles []types.Role, r types.Role) []types.Role {
	var out []types.Role
	for _, x := range roles {
		if x != r {
			out = append(out, x)
		}
	}
	return out
}
