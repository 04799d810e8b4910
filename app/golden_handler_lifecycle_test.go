package app

import "github.com/phalanx-bft/phalanx/types"

// The node and observer lifecycle in golden scripts: RemoveNode and
// UnjailObserver.

// handleRemoveNode: remove-node ID [force=true] [reason=R]
func (h *harness) handleRemoveNode(a *args, _ string) string {
	return h.deliver(a, &types.TxBody{Msg: &types.TxBody_RemoveNode{RemoveNode: &types.RemoveNode{
		NodeId: a.arg(0, "ID"), Force: a.bool("force"), Reason: a.str("reason", "")}}}, "ops")
}

// handleUnjailObserver: unjail-observer NAME
func (h *harness) handleUnjailObserver(a *args, _ string) string {
	addr := h.name(a.arg(0, "NAME"))
	return h.deliver(a, &types.TxBody{Msg: &types.TxBody_UnjailObserver{UnjailObserver: &types.UnjailObserver{Address: addr}}}, "admin")
}
