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
// by DeliverTx with its code. It is admission control (ADR 0014): the
// signer must be known and allowed to send the message. In order: a signer
// without an account (ErrUnknownSigner; a node's own key registering it
// is the one exception, ErrRegistrationClosed without open_registration),
// sequence (ErrSequenceUsed / ErrSequenceSkipped), timeout_height
// (ErrTxExpired), jailed signer (ErrSignerJailed), a signer whose account
// holds another public key (ErrBadPubKey), and the message's authorization
// (authorize: ErrUnauthorized, ErrNotNodeKey, ErrNodeNotFound,
// ErrInvalidEvidence, ErrRegistrationClosed, ErrLimitExceeded). It changes
// nothing. The per-block rate of self-registrations is DeliverTx's
// (admitInBlock): the mempool cannot know which block a transaction lands
// in.
func (s *State) CheckTx(tx *api.Tx, height int64, expectedSeq uint64) error {
	addr := addrHex(tx.Address)
	acc := s.accounts[addr]
	if acc == nil {
		if err := s.admitWithoutAccount(tx); err != nil {
			return err
		}
	}
	if seq := tx.Body.Sequence; seq < expectedSeq {
		return api.Errorf(api.ErrSequenceUsed, "sequence %d already used by account %s; next is %d", seq, addr, expectedSeq)
	} else if seq > expectedSeq {
		return api.Errorf(api.ErrSequenceSkipped, "sequence %d skips ahead for account %s; next is %d", seq, addr, expectedSeq)
	}
	if th := tx.Body.TimeoutHeight; th != 0 && th < height {
		return api.Errorf(api.ErrTxExpired, "tx timed out at height %d; it would be included at height %d", th, height)
	}
	if acc != nil && acc.Jailed {
		return api.Errorf(api.ErrSignerJailed, "account %s is jailed (%s)", addr, acc.JailReason)
	}
	if acc != nil && len(acc.PubKey) != 0 && !bytes.Equal(acc.PubKey, tx.PubKey) {
		return api.Errorf(api.ErrBadPubKey, "account %s holds a different public key", addr)
	}
	return s.authorize(tx, acc)
}

// admitWithoutAccount admits a signer that has no account: only a node's
// own key registering that node, under open_registration. Accounts come
// from genesis, a role grant or a node registration, never from anything
// else a stranger sends.
func (s *State) admitWithoutAccount(tx *api.Tx) error {
	if m := tx.Body.GetRegisterNode(); m != nil && bytes.Equal(m.PubKey, tx.PubKey) {
		if !s.params.OpenRegistration {
			return api.Errorf(api.ErrRegistrationClosed, "node %s registers itself (signer %s is its pub_key) but params.open_registration is off; an operator must register it",
				m.NodeId, addrHex(tx.Address))
		}
		return nil
	}
	return api.Errorf(api.ErrUnknownSigner, "signer %s has no account; %s needs an account created at genesis, by a role grant or by a node registration",
		addrHex(tx.Address), api.MsgName(&tx.Body))
}

// authorize checks that the signer may send the message (ADR 0014).
func (s *State) authorize(tx *api.Tx, acc *types.Account) error {
	switch m := tx.Body.Msg.(type) {
	case *types.TxBody_RegisterNode:
		if accHasRole(acc, types.ROLE_OPERATOR) {
			return nil
		}
		if bytes.Equal(m.RegisterNode.PubKey, tx.PubKey) {
			if !s.params.OpenRegistration {
				return api.Errorf(api.ErrRegistrationClosed, "node %s registers itself but params.open_registration is off; an operator must register it", m.RegisterNode.NodeId)
			}
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
			return api.Errorf(api.ErrNotNodeKey, "a heartbeat of node %s must be signed by the node's key (account %s); signer is %s",
				n.Id, addrHex(addressOf(n.PubKey)), addrHex(tx.Address))
		}
		return nil
	case *types.TxBody_HealthReport, *types.TxBody_Attest:
		return needRole(tx, acc, types.ROLE_OBSERVER)
	case *types.TxBody_ReportEquivocation:
		if !accHasRole(acc, types.ROLE_OBSERVER) && !accHasRole(acc, types.ROLE_OPERATOR) && !accHasRole(acc, types.ROLE_ADMIN) {
			return api.Errorf(api.ErrUnauthorized, "ReportEquivocation needs role observer, operator or admin; account %s has %s", addrHex(tx.Address), rolesString(acc.Roles))
		}
		// DecodeTx verified the evidence (api.validateEquivocation); what
		// needs the state is that the key it accuses has an account.
		e, err := api.EquivocationOf(m.ReportEquivocation, s.chainID)
		if err != nil {
			return err
		}
		if s.accounts[addrHex(e.Address)] == nil {
			return api.Errorf(api.ErrInvalidEvidence, "signer %s has no account", addrHex(e.Address))
		}
		return nil
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

// selfRegistration reports whether tx registers a new node under open
// registration with the node's own key rather than as an operator: what
// max_self_registrations_per_block counts.
func (s *State) selfRegistration(tx *api.Tx) bool {
	m := tx.Body.GetRegisterNode()
	return m != nil && s.nodes[m.NodeId] == nil && bytes.Equal(m.PubKey, tx.PubKey) &&
		!accHasRole(s.accounts[addrHex(tx.Address)], types.ROLE_OPERATOR)
}

// admitInBlock is the admission check only DeliverTx can make: at most
// max_self_registrations_per_block self-registrations per block
// (ErrRegistrationRateLimited). Like CheckTx's refusals it changes nothing,
// not even the sequence: the same transaction may be sent again and land
// in a later block.
func (s *State) admitInBlock(tx *api.Tx) error {
	if s.selfRegistration(tx) && s.selfRegs >= s.params.MaxSelfRegistrationsPerBlock {
		return api.Errorf(api.ErrRegistrationRateLimited, "this block already applied %d self-registrations (max_self_registrations_per_block); send RegisterNode of node %s again for a later block",
			s.selfRegs, tx.Body.GetRegisterNode().NodeId)
	}
	return nil
}

// allowNewAccount refuses a self-registration that would create an
// account when the account table is full.
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
