package app

import (
	"bytes"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/types"
)

// CheckTx is the stateful "ante" check, run on a transaction that already
// passed DecodeTx. Two callers share it: abci's CheckTx (the mempool), with
// height = the next block's and expectedSeq = the signer's next sequence in
// the caller's check-state (which counts transactions admitted since the
// last Commit), and DeliverTx (FinalizeBlock), with the block's height and
// NextSequence. ProcessProposal does not run it: it checks a proposal with
// DecodeTx alone, and a transaction that fails here in a block is rejected
// by DeliverTx with its code. In order: sequence (ErrSequenceUsed /
// ErrSequenceSkipped), timeout_height (ErrTxExpired), jailed signer
// (ErrSignerJailed), a signer whose account holds another public key
// (ErrBadPubKey), authorization (ErrUnauthorized, ErrNodeNotFound for a
// heartbeat of an unknown node, ErrLimitExceeded when a new account would
// exceed MaxAccounts). It changes nothing.
func (s *State) CheckTx(tx *api.Tx, height int64, expectedSeq uint64) error {
	addr := addrHex(tx.Address)
	if seq := tx.Body.Sequence; seq < expectedSeq {
		return api.Errorf(api.ErrSequenceUsed, "sequence %d already used by account %s; next is %d", seq, addr, expectedSeq)
	} else if seq > expectedSeq {
		return api.Errorf(api.ErrSequenceSkipped, "sequence %d skips ahead for account %s; next is %d", seq, addr, expectedSeq)
	}
	if th := tx.Body.TimeoutHeight; th != 0 && th < height {
		return api.Errorf(api.ErrTxExpired, "tx timed out at height %d; it would be included at height %d", th, height)
	}
	acc := s.accounts[addr]
	if acc != nil && acc.Jailed {
		return api.Errorf(api.ErrSignerJailed, "account %s is jailed (%s)", addr, acc.JailReason)
	}
	if acc != nil && len(acc.PubKey) != 0 && !bytes.Equal(acc.PubKey, tx.PubKey) {
		return api.Errorf(api.ErrBadPubKey, "account %s holds a different public key", addr)
	}
	return s.authorize(tx, acc)
}

// authorize checks that the signer may send the message.
func (s *State) authorize(tx *api.Tx, acc *types.Account) error {
	switch m := tx.Body.Msg.(type) {
	case *types.TxBody_RegisterNode:
		if accHasRole(acc, types.ROLE_OPERATOR) {
			return nil
		}
		if s.params.OpenRegistration && bytes.Equal(m.RegisterNode.PubKey, tx.PubKey) {
			return s.allowNewAccount(acc)
		}
		if s.params.OpenRegistration {
			return api.Errorf(api.ErrUnauthorized, "RegisterNode needs role operator, or the signer must be the node's own key (open registration); account %s is neither", addrHex(tx.Address))
		}
		return missingRole(tx, acc, types.ROLE_OPERATOR)
	case *types.TxBody_Heartbeat:
		n := s.nodes[m.Heartbeat.NodeId]
		if n == nil {
			return api.Errorf(api.ErrNodeNotFound, "node %s is not registered", m.Heartbeat.NodeId)
		}
		if !bytes.Equal(n.PubKey, tx.PubKey) {
			return api.Errorf(api.ErrUnauthorized, "a heartbeat of node %s must be signed by the node's key (account %s); signer is %s",
				n.Id, addrHex(addressOf(n.PubKey)), addrHex(tx.Address))
		}
		return s.allowNewAccount(acc)
	case *types.TxBody_HealthReport:
		return needRole(tx, acc, types.ROLE_OBSERVER)
	case *types.TxBody_ReportEquivocation:
		return s.allowNewAccount(acc)
	case *types.TxBody_CreateWorkload, *types.TxBody_UpdateWorkload, *types.TxBody_DeleteWorkload,
		*types.TxBody_CordonNode, *types.TxBody_UncordonNode, *types.TxBody_DrainNode:
		return needRole(tx, acc, types.ROLE_OPERATOR)
	case *types.TxBody_RemoveNode:
		return needRole(tx, acc, types.ROLE_OPERATOR)
	case *types.TxBody_UnjailObserver:
		return needRole(tx, acc, types.ROLE_ADMIN)
	case *types.TxBody_GrantRole, *types.TxBody_RevokeRole, *types.TxBody_UpdateParams, *types.TxBody_SetValidatorPower:
		return needRole(tx, acc, types.ROLE_ADMIN)
	}
	return api.Errorf(api.ErrBodyUndecodable, "tx body carries no known message")
}

// allowNewAccount refuses a role-less signer without an account when the
// account table is full.
func (s *State) allowNewAccount(acc *types.Account) error {
	if acc == nil && len(s.accounts) >= api.MaxAccounts {
		return api.Errorf(api.ErrLimitExceeded, "the state holds %d accounts, the limit", api.MaxAccounts)
	}
	return nil
}

func accHasRole(acc *types.Account, r types.Role) bool {
	return acc != nil && api.HasRole(acc.Roles, r)
}

func needRole(tx *api.Tx, acc *types.Account, r types.Role) error {
	if accHasRole(acc, r) {
		return nil
	}
	return missingRole(tx, acc, r)
}

func missingRole(tx *api.Tx, acc *types.Account, r types.Role) error {
	if acc == nil {
		return api.Errorf(api.ErrUnauthorized, "%s needs role %s; signer %s has no account", api.MsgName(&tx.Body), api.RoleName(r), addrHex(tx.Address))
	}
	return api.Errorf(api.ErrUnauthorized, "%s needs role %s; account %s has %s", api.MsgName(&tx.Body), api.RoleName(r), addrHex(tx.Address), rolesString(acc.Roles))
}

func rolesString(roles []types.Role) string {
	if len(roles) == 0 {
		return "no roles"
	}
	out := "roles "
	for i, r := range roles {
		if i > 0 {
			out += ","
		}
		out += api.RoleName(r)
	}
	return out
}
