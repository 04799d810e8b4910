package api

// Errors. Every rejection of a transaction carries one of the sentinel errors
// below, wrapped with a message that says what was wrong and what was
// expected. CodeOf maps an error to its ABCI result code. Codes are part of
// the protocol: never renumber, never reuse a retired code.
//
//	code  sentinel              meaning
//	   1  ErrTxTooLarge         encoded tx above MaxTxBytes
//	   2  ErrTxUndecodable      the bytes are not a Tx
//	   3  ErrBadPubKey          pub_key is not a 32-byte ed25519 key
//	   4  ErrBadSignature       signature missing, malformed or not valid
//	   5  ErrWrongChainID       body.chain_id is not this chain's
//	   6  ErrBodyUndecodable    body_bytes are not a TxBody, or carry no message
//	   7  ErrSequenceUsed       sequence below the account's next sequence
//	   8  ErrSequenceSkipped    sequence above the account's next sequence
//	   9  ErrTxExpired          timeout_height passed
//	  10  ErrUnauthorized       the signer lacks the role the message needs
//	  11  ErrSignerJailed       the signer's account is jailed
//	  12  ErrInvalidMessage     the message fails its own validation
//	  13  ErrNodeExists         node registered with a different spec, or key in use
//	  14  ErrNodeNotFound       no such node
//	  15  ErrWorkloadExists     workload exists with a different spec
//	  16  ErrWorkloadNotFound   no such workload
//	  17  ErrInvalidParams      parameters fail validation
//	  18  ErrInvalidEvidence    equivocation evidence does not prove anything
//	  19  ErrStaleHeartbeat     heartbeat seq not above the last accepted one
//	  20  ErrLimitExceeded      the state-wide bound would be crossed
//	  21  ErrNotFound           query: unknown path or missing object
//	  22  ErrUnknownAccount     the account does not exist
//	  23  ErrInternal           anything that is not one of the above
//	  24  ErrLastAdmin          revoking the last active admin
//	  25  ErrBadGenesis         genesis app_state is invalid
//	  26  ErrWindowClosed       health report or attest for a window that is not open
//	  27  ErrBadRequest         query: malformed parameter (unknown filter, bad value, limit out of range)
//	  28  ErrUnknownSigner      the signer has no account and the message creates none (ADR 0014)
//	  29  ErrNotNodeKey         a node's message not signed by the node's own key
//	  30  ErrRegistrationRateLimited  this block's self-registrations (max_self_registrations_per_block) are used up
//	  31  ErrRegistrationClosed a node's own key registers it while open_registration is off
//	  32  ErrSignerBudget       the signer already has its budget of pending transactions or bytes in the mempool
//	  33  ErrMsgTooLarge        encoded tx above its message type's size limit (MaxTxBytesFor)
//	  34  ErrNodeHasTasks       RemoveNode without force while active tasks are placed on the node
//	  35  ErrNotJailedObserver  UnjailObserver for an account that is not jailed or has no role observer
//	  36  ErrNonHealthShare     this validator\'s mempool share for non-health transactions is full
//	  37  ErrWorkloadTypeChange UpdateWorkload changes the workload's type (service, batch)

import (
	"errors"
	"fmt"
)

// Error is a sentinel error with its result code.
type Error struct {
	Code uint32
	Desc string
}

func (e *Error) Error() string { return e.Desc }

// The sentinels. See the table above.
var (
	ErrTxTooLarge              = &Error{1, "tx too large"}
	ErrTxUndecodable           = &Error{2, "tx undecodable"}
	ErrBadPubKey               = &Error{3, "bad public key"}
	ErrBadSignature            = &Error{4, "bad signature"}
	ErrWrongChainID            = &Error{5, "wrong chain id"}
	ErrBodyUndecodable         = &Error{6, "tx body undecodable"}
	ErrSequenceUsed            = &Error{7, "sequence already used"}
	ErrSequenceSkipped         = &Error{8, "sequence skipped"}
	ErrTxExpired               = &Error{9, "tx expired"}
	ErrUnauthorized            = &Error{10, "unauthorized"}
	ErrSignerJailed            = &Error{11, "signer jailed"}
	ErrInvalidMessage          = &Error{12, "invalid message"}
	ErrNodeExists              = &Error{13, "node exists"}
	ErrNodeNotFound            = &Error{14, "node not found"}
	ErrWorkloadExists          = &Error{15, "workload exists"}
	ErrWorkloadNotFound        = &Error{16, "workload not found"}
	ErrInvalidParams           = &Error{17, "invalid params"}
	ErrInvalidEvidence         = &Error{18, "invalid evidence"}
	ErrStaleHeartbeat          = &Error{19, "stale heartbeat"}
	ErrLimitExceeded           = &Error{20, "limit exceeded"}
	ErrNotFound                = &Error{21, "not found"}
	ErrUnknownAccount          = &Error{22, "unknown account"}
	ErrInternal                = &Error{23, "internal error"}
	ErrLastAdmin               = &Error{24, "last admin"}
	ErrBadGenesis              = &Error{25, "bad genesis"}
	ErrWindowClosed            = &Error{26, "report window not open"}
	ErrBadRequest              = &Error{27, "bad request"}
	ErrUnknownSigner           = &Error{28, "unknown signer"}
	ErrNotNodeKey              = &Error{29, "not the node's key"}
	ErrRegistrationRateLimited = &Error{30, "self-registration rate exceeded"}
	ErrRegistrationClosed      = &Error{31, "open registration is off"}
	ErrSignerBudget            = &Error{32, "signer budget exceeded"}
	ErrMsgTooLarge             = &Error{33, "message too large for its type"}
	ErrNodeHasTasks            = &Error{34, "node has tasks"}
	ErrNotJailedObserver       = &Error{35, "not a jailed observer"}
	ErrNonHealthShare          = &Error{36, "mempool share for non-health transactions full"}
	ErrWorkloadTypeChange      = &Error{37, "workload type cannot change"}
)

// AllErrors lists every sentinel, in code order.
func AllErrors() []*Error {
	return []*Error{
		ErrTxTooLarge, ErrTxUndecodable, ErrBadPubKey, ErrBadSignature,
		ErrWrongChainID, ErrBodyUndecodable, ErrSequenceUsed,
		ErrSequenceSkipped, ErrTxExpired, ErrUnauthorized, ErrSignerJailed,
		ErrInvalidMessage, ErrNodeExists, ErrNodeNotFound, ErrWorkloadExists,
		ErrWorkloadNotFound, ErrInvalidParams, ErrInvalidEvidence,
		ErrStaleHeartbeat, ErrLimitExceeded, ErrNotFound, ErrUnknownAccount,
		ErrInternal, ErrLastAdmin, ErrBadGenesis, ErrWindowClosed, ErrBadRequest,
		ErrUnknownSigner, ErrNotNodeKey, ErrRegistrationRateLimited,
		ErrRegistrationClosed,
		ErrSignerBudget, ErrMsgTooLarge, ErrNodeHasTasks, ErrNotJailedObserver, ErrNonHealthShare,
		ErrWorkloadTypeChange,
	}
}

// CodeOf returns the result code of err: 0 for nil, the code of the
// sentinel err wraps, or ErrInternal's code for anything else.
func CodeOf(err error) uint32 {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ErrInternal.Code
}

// wrapped is a sentinel with a message of its own. Its text is the message
// alone ("sequence 12 already used by account 3F9A…; next is 13"); the
// sentinel gives the class and the code.
type wrapped struct {
	sentinel *Error
	msg      string
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.sentinel }

// Errorf wraps sentinel with a formatted message (use %v, not %w, for a
// cause: the class is always sentinel).
func Errorf(sentinel *Error, format string, args ...any) error {
	return &wrapped{sentinel: sentinel, msg: fmt.Sprintf(format, args...)}
}
