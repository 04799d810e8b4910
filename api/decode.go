package api

import (
	"crypto/ed25519"

	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/types"
)

// DecodeTx runs the stateless checks on a raw transaction, in this order:
// size (ErrTxTooLarge), Tx decoding (ErrTxUndecodable), public key length
// (ErrBadPubKey), signature length and validity over crypto.SignBytes of the
// body (ErrBadSignature), TxBody decoding (ErrBodyUndecodable), chain id
// (ErrWrongChainID), the message type's size limit (ErrMsgTooLarge,
// MaxTxBytesFor), memo length and a negative timeout_height
// (ErrInvalidMessage), a known message (ErrBodyUndecodable) and the
// message's own validation (validate.go: ErrInvalidMessage and others). It
// reads no state, so abci's CheckTx, ProcessProposal and FinalizeBlock all
// run it (ProcessProposal runs nothing else).
func DecodeTx(raw []byte, chainID string) (*Tx, error) {
	return DecodeTxWith(raw, chainID, crypto.Verify)
}

// Verifier checks an ed25519 signature over crypto.SignBytes(body). A
// caller may pass one that remembers transactions it already verified
// (the result of a verification never changes, so this cannot affect
// determinism).
type Verifier func(pub, body, sig []byte) bool

// DecodeTxWith is DecodeTx with the signature check delegated to verify.
func DecodeTxWith(raw []byte, chainID string, verify Verifier) (*Tx, error) {
	if len(raw) > MaxTxBytes {
		return nil, Errorf(ErrTxTooLarge, "tx is %d bytes; the limit is %d", len(raw), MaxTxBytes)
	}
	var tx types.Tx
	if err := tx.Unmarshal(raw); err != nil {
		return nil, Errorf(ErrTxUndecodable, "tx does not decode: %v", err)
	}
	if len(tx.PubKey) != PubKeyLen {
		return nil, Errorf(ErrBadPubKey, "tx pub_key is %d bytes; want %d (ed25519)", len(tx.PubKey), PubKeyLen)
	}
	if len(tx.Signature) != SignatureLen {
		return nil, Errorf(ErrBadSignature, "tx signature is %d bytes; want %d (ed25519)", len(tx.Signature), SignatureLen)
	}
	if !verify(tx.PubKey, tx.BodyBytes, tx.Signature) {
		return nil, Errorf(ErrBadSignature, "signature does not verify for signer %s", crypto.AddressHex(tx.PubKey))
	}
	var body types.TxBody
	if err := body.Unmarshal(tx.BodyBytes); err != nil {
		return nil, Errorf(ErrBodyUndecodable, "tx body does not decode: %v", err)
	}
	if body.ChainId != chainID {
		return nil, Errorf(ErrWrongChainID, "tx is for chain %q; this chain is %q", body.ChainId, chainID)
	}
	if limit := MaxTxBytesFor(&body); len(raw) > limit {
		return nil, Errorf(ErrMsgTooLarge, "%s tx is %d bytes; the limit for this message type is %d", MsgName(&body), len(raw), limit)
	}
	if len(body.Memo) > MaxMemoBytes {
		return nil, Errorf(ErrInvalidMessage, "memo is %d bytes; the limit is %d", len(body.Memo), MaxMemoBytes)
	}
	if body.TimeoutHeight < 0 {
		return nil, Errorf(ErrInvalidMessage, "timeout_height is %d; want 0 (none) or a height", body.TimeoutHeight)
	}
	if err := validateMsgWith(&body, verify); err != nil {
		return nil, err
	}
	pub := ed25519.PublicKey(append([]byte(nil), tx.PubKey...))
	return &Tx{
		Raw:     raw,
		PubKey:  pub,
		Address: addressOf(pub),
		Body:    body,
	}, nil
}

// Tx is a transaction that passed the stateless checks of DecodeTx.
type Tx struct {
	Raw     []byte
	PubKey  ed25519.PublicKey
	Address []byte // crypto.Address(PubKey)
	Body    types.TxBody
}

// MaxTxBytesFor is the size limit of an encoded Tx carrying body's message
// (api/limits.go): large only for the types that need it.
func MaxTxBytesFor(body *types.TxBody) int {
	switch body.Msg.(type) {
	case *types.TxBody_Heartbeat:
		return MaxHeartbeatTxBytes
	case *types.TxBody_HealthReport:
		return MaxHealthReportTxBytes
	case *types.TxBody_Attest:
		return MaxAttestTxBytes
	case *types.TxBody_ReportEquivocation:
		return MaxReportEquivocationTxBytes
	case *types.TxBody_CreateWorkload, *types.TxBody_UpdateWorkload:
		return MaxWorkloadTxBytes
	case *types.TxBody_RegisterNode:
		return MaxRegisterNodeTxBytes
	case *types.TxBody_UpdateParams:
		return MaxUpdateParamsTxBytes
	default:
		return MaxSmallMsgTxBytes
	}
}

// IsObserverMsg reports whether body carries an observer's health
// transaction (an Attest or a HealthReport), which a proposer puts before
// nodes' heartbeats (ADR 0015).
func IsObserverMsg(body *types.TxBody) bool {
	switch body.Msg.(type) {
	case *types.TxBody_Attest, *types.TxBody_HealthReport:
		return true
	}
	return false
}

// IsHealthMsg reports whether body carries a health transaction: a
// Heartbeat, a HealthReport, an Attest or ReportEquivocation evidence. Blocks carry
// these first (ADR 0015).
func IsHealthMsg(body *types.TxBody) bool {
	switch body.Msg.(type) {
	case *types.TxBody_Heartbeat, *types.TxBody_HealthReport, *types.TxBody_Attest, *types.TxBody_ReportEquivocation:
		return true
	}
	return false
}
