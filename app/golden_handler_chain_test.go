package app

import (
	"fmt"
	"strings"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/types"
)

// The chain's clock in golden scripts: genesis, block, end-block, advance.

// handleGenesis: genesis [open-registration] [placements=N] [fence=MS]
// [validators=v1,v2] NAME=role,role[@VALNAME] ...
func (h *harness) handleGenesis(a *args, _ string) string {
	g := &api.Genesis{Params: api.DefaultParams()}
	g.Params.OpenRegistration = a.word("open-registration")
	g.Params.MaxPlacementsPerBlock = a.u32("placements", g.Params.MaxPlacementsPerBlock)
	g.Params.FenceTimeoutMs = a.int("fence", g.Params.FenceTimeoutMs)
	var vals []ValidatorUpdate
	if v := a.str("validators", ""); v != "" {
		for _, name := range strings.Split(v, ",") {
			if name == "" {
				a.fail("validators=%s: an empty name", v)
			}
			h.name(name)
			vals = append(vals, ValidatorUpdate{PubKey: testPub(name), Power: 10})
		}
	}
	for _, k := range sortedKeys(a.kv) {
		if k == "placements" || k == "validators" || k == "fence" {
			continue
		}
		spec := a.str(k, "") // an account given twice fails here
		ga := types.GenesisAccount{Address: h.name(k)}
		roles, val, linked := strings.Cut(spec, "@")
		if linked {
			if val == "" {
				a.fail("account %s=%s: no validator name after @", k, spec)
			}
			ga.ValidatorAddress = h.name(val)
		}
		for _, r := range strings.Split(roles, ",") {
			role, ok := api.ParseRole(r)
			if !ok {
				a.fail("account %s=%s: unknown role %q", k, spec, r)
			}
			ga.Roles = append(ga.Roles, role)
		}
		g.Accounts = append(g.Accounts, ga)
	}
	// Through the JSON form, as phalanxd init and InitChain would.
	js, err := g.MarshalJSON()
	if err != nil {
		panic(err)
	}
	g2, err := api.ParseGenesis(js)
	if err != nil {
		panic(err)
	}
	s, err := NewState(testChainID, g2)
	if err != nil {
		panic(err)
	}
	s.SetValidators(vals)
	h.s = s
	n := len(s.TakeChanges())
	return fmt.Sprintf("ok: %d accounts, %d validators, %d records", len(g2.Accounts), len(vals), n)
}

// handleBlock: block [t=MS] [evidence=VALNAME,...]...
func (h *harness) handleBlock(a *args, _ string) string {
	if h.s.inBlock {
		a.fail("a block is already open")
	}
	t := a.int("t", h.lastMs+1000)
	var evidence []Misbehavior
	for _, list := range a.list("evidence") {
		for _, name := range strings.Split(list, ",") {
			if name == "" {
				a.fail("evidence=%s: an empty validator name", list)
			}
			evidence = append(evidence, Misbehavior{Type: "duplicate_vote", ValidatorAddress: h.name(name), Height: h.s.height})
		}
	}
	h.lastMs = t
	events := h.s.BeginBlock(Block{Height: h.s.height + 1, TimeMs: t, Hash: []byte("hash")}, evidence)
	lines := []string{fmt.Sprintf("block %d t=%d", h.s.height, t)}
	lines = append(lines, h.eventLines(events)...)
	return strings.Join(lines, "\n")
}

func (h *harness) ensureBlock() {
	if !h.s.inBlock {
		h.lastMs += 1000
		h.s.BeginBlock(Block{Height: h.s.height + 1, TimeMs: h.lastMs, Hash: []byte("hash")}, nil)
	}
}

// handleEndBlock: end-block [t=MS]
func (h *harness) handleEndBlock(a *args, _ string) string {
	if t := a.int("t", 0); t != 0 {
		if h.s.inBlock && t != h.lastMs {
			a.fail("end-block t=%d but the open block has t=%d", t, h.lastMs)
		}
		if !h.s.inBlock {
			h.lastMs = t - 1000
		}
	}
	h.ensureBlock()
	res := h.s.EndBlock()
	lines := []string{fmt.Sprintf("end-block %d t=%d", h.s.height, h.lastMs)}
	lines = append(lines, h.eventLines(res.Events)...)
	for _, u := range res.ValidatorUpdates {
		lines = append(lines, h.names2(fmt.Sprintf("validator-update %s power=%d", addrHex(addressOf(u.PubKey)), u.Power)))
	}
	return strings.Join(lines, "\n")
}

// handleAdvance: advance to=MS [step=MS] [hb=NODE:GAP[,GAP...]]...
// [report=OBS=OBSERVATION[,OBSERVATION...]]... [fail=TASK[:EXIT]]...
// [quiet=true]: empty blocks (but for the scheduled heartbeats and
// reports) up to to=MS; prints the blocks that had events. A scheduled
// heartbeat reports the node's active tasks Running (Failed per fail=)
// and every generation fenced on the node stopped (Heartbeat.stopped),
// but those of keep_original workloads, which its agent holds.
func (h *harness) handleAdvance(a *args, _ string) string {
	var lines []string
	if h.s.inBlock {
		lines = append(lines, h.handleEndBlock(noArgs(a.fail), "")) // the open block ends first
	}
	if !a.has("to") {
		a.fail("advance needs to=MS")
	}
	to, step := a.int("to", 0), a.int("step", 1000)
	if step <= 0 {
		a.fail("step=%d: want a positive number of ms", step)
	}
	type sched struct {
		node string
		gaps []int64
	}
	var hbs []sched
	for _, spec := range a.list("hb") {
		node, gaps, ok := strings.Cut(spec, ":")
		if !ok || node == "" {
			a.fail("hb=%s: want NODE:GAP[,GAP...]", spec)
		}
		sc := sched{node: node}
		for _, g := range strings.Split(gaps, ",") {
			v := intField(a, "hb="+spec, "gap", g, 64)
			if v <= 0 {
				a.fail("hb=%s: gaps must be positive ms", spec)
			}
			sc.gaps = append(sc.gaps, v)
		}
		hbs = append(hbs, sc)
	}
	type reportSpec struct {
		observer string
		obs      []types.Observation
	}
	var reports []reportSpec
	for _, spec := range a.list("report") {
		observer, list, ok := strings.Cut(spec, "=")
		if !ok || observer == "" {
			a.fail("report=%s: want OBSERVER=NODE:up|down[,...]", spec)
		}
		rs := reportSpec{observer: observer}
		for _, o := range strings.Split(list, ",") {
			rs.obs = append(rs.obs, parseObservation(a, o))
		}
		reports = append(reports, rs)
	}
	attesters := a.list("attest") // observers that send an empty Attest once a window
	fails := map[string]int32{}
	for _, f := range a.list("fail") {
		id, code, ok := strings.Cut(f, ":")
		if id == "" {
			a.fail("fail=%s: want TASK[:EXIT]", f)
		}
		fails[id] = 1
		if ok {
			fails[id] = int32(intField(a, "fail="+f, "exit code", code, 32))
		}
	}
	quiet := a.bool("quiet")
	if h.hbTurn == nil {
		h.hbTurn, h.reported, h.attested = map[string]int{}, map[string]uint64{}, map[string]uint64{}
	}
	blocks := 0
	for h.lastMs+step <= to {
		h.lastMs += step
		blocks++
		events := h.s.BeginBlock(Block{Height: h.s.height + 1, TimeMs: h.lastMs, Hash: []byte("hash")}, nil)
		var txLines []string
		for _, sc := range hbs {
			n := h.s.nodes[sc.node]
			gap := sc.gaps[h.hbTurn[sc.node]%len(sc.gaps)]
			if n == nil || h.lastMs-n.LastHeartbeatMs < gap {
				continue
			}
			h.hbTurn[sc.node]++
			hb := &types.Heartbeat{NodeId: n.Id, Seq: n.LastHeartbeatSeq + 1}
			for _, t := range h.s.tasksOn(n.Id) {
				if !taskActive(t) {
					continue
				}
				r := types.TaskReport{TaskId: t.Id, Generation: t.Generation, State: types.TASK_RUNNING, ExitCode: t.ExitCode, Ready: true}
				if code, ok := fails[t.Id]; ok || t.State == types.TASK_FAILED {
					r.State = types.TASK_FAILED
					if ok {
						r.ExitCode = code
					}
				}
				hb.Tasks = append(hb.Tasks, r)
			}
			// A well-behaved agent: every generation taken off its node
			// has stopped by its next heartbeat, which says so; but it
			// holds one of a keep_original workload (disconnect.go).
			for _, id := range h.s.taskIDs() {
				if t := h.s.tasks[id]; t.FenceNode == n.Id && h.s.workloads[t.Workload].Spec.Disconnect.Reconcile != api.KeepOriginal {
					hb.Stopped = append(hb.Stopped, types.StoppedTask{TaskId: id, Generation: t.FenceGeneration})
				}
			}
			body := &types.TxBody{ChainId: testChainID, Sequence: h.s.NextSequence(testAddr(n.Id)), Msg: &types.TxBody_Heartbeat{Heartbeat: hb}}
			tx, err := api.DecodeTx(encodeTx(testKey(n.Id), body), testChainID)
			if err != nil {
				panic(err)
			}
			res := h.s.DeliverTx(tx)
			if res.Code != 0 {
				txLines = append(txLines, fmt.Sprintf("heartbeat %s seq=%d: error code %d: %s", n.Id, hb.Seq, res.Code, res.Log))
			} else if len(res.Events) > 0 {
				txLines = append(txLines, fmt.Sprintf("heartbeat %s seq=%d", n.Id, hb.Seq))
			}
			txLines = append(txLines, h.eventLines(res.Events)...)
		}
		window := uint64(h.lastMs / h.s.params.ReportWindowMs)
		for _, rs := range reports {
			if last, ok := h.reported[rs.observer]; ok && last == window {
				continue
			}
			h.reported[rs.observer] = window
			h.name(rs.observer)
			body := &types.TxBody{ChainId: testChainID, Sequence: h.s.NextSequence(testAddr(rs.observer)),
				Msg: &types.TxBody_HealthReport{HealthReport: &types.HealthReport{Window: window, Observations: rs.obs}}}
			tx, err := api.DecodeTx(encodeTx(testKey(rs.observer), body), testChainID)
			if err != nil {
				panic(err)
			}
			res := h.s.DeliverTx(tx)
			if res.Code != 0 {
				txLines = append(txLines, fmt.Sprintf("report %s window %d: error code %d: %s", rs.observer, window, res.Code, res.Log))
			} else if len(res.Events) > 0 {
				txLines = append(txLines, fmt.Sprintf("report %s window %d", rs.observer, window))
			}
			txLines = append(txLines, h.eventLines(res.Events)...)
		}
		for _, obs := range attesters {
			if last, ok := h.attested[obs]; ok && last == window {
				continue
			}
			h.attested[obs] = window
			h.name(obs)
			body := &types.TxBody{ChainId: testChainID, Sequence: h.s.NextSequence(testAddr(obs)),
				Msg: &types.TxBody_Attest{Attest: &types.Attest{Window: window}}}
			tx, err := api.DecodeTx(encodeTx(testKey(obs), body), testChainID)
			if err != nil {
				panic(err)
			}
			if res := h.s.DeliverTx(tx); res.Code != 0 {
				txLines = append(txLines, fmt.Sprintf("attest %s window %d: error code %d: %s", obs, window, res.Code, res.Log))
			}
		}
		end := h.s.EndBlock()
		events = append(events, end.Events...)
		if quiet {
			events, txLines = end.Events, nil
		}
		if len(events) > 0 || len(txLines) > 0 {
			lines = append(lines, fmt.Sprintf("block %d t=%d", h.s.height, h.lastMs))
			for _, l := range txLines {
				lines = append(lines, h.names2(l))
			}
			lines = append(lines, h.eventLines(events)...)
		}
	}
	lines = append(lines, fmt.Sprintf("advanced %d blocks to t=%d (height %d)", blocks, h.lastMs, h.s.height))
	return strings.Join(lines, "\n")
}
