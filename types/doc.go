// Package types holds Phalanx's wire and store types: the Go code that
// gogoproto's protoc-gen-gocosmos generates from proto/phalanx/v1/*.proto
// (tx.proto: Tx, TxBody and the messages; state.proto: the records app/
// stores, Params, genesis accounts, and the enums). The generated code is
// committed, so building needs only Go.
//
// Do not edit the *.pb.go files by hand: change the .proto files and run
// `make proto` (it needs protoc; the plugin is pinned in go.mod as a Go
// tool), which regenerates them and copies them here. Files of this
// package that are not *.pb.go (like this one) are kept by `make proto`.
//
// # Contract
//
//   - The encoding is consensus-critical: every validator stores and hashes
//     the records' Marshal output, and a transaction's signature covers the
//     exact body_bytes (crypto.SignBytes). Marshal writes fields in field
//     number order and the messages have no map fields, so equal values
//     encode to equal bytes. Changing a field's number or type, or adding a
//     map, changes the bytes (and so the app hash) of the same state: all
//     validators must switch at once, as for any rule change
//     (abci.AppVersion).
//   - Unmarshal accepts any well-formed input; it checks nothing else.
//     Bounds, canonical order (labels sorted by key, env by name) and
//     meaning are app's to check (api.DecodeTx, api.ValidateWorkloadSpec,
//     api.ValidateParams); never act on a decoded value without them.
//   - The package holds data only: no behaviour beyond what gogoproto
//     generates, no import of app/, crypto/ or CometBFT, so clients can
//     import it to build transactions and read answers.
package types
