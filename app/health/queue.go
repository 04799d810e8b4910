package health

// DeadlineQueue is a min-heap of (deadline ms, id), ordered by deadline
// then id, so that due entries come out in one order on every validator.
// app/ keeps two: the failure detector's deadline index (detector clock ms,
// node id: each node's next suspect or down deadline) and the restart
// backoff of Failed tasks (block time ms, task id).
//
// Entries are never updated or removed in place: the owner pushes a new
// entry whenever it sets an id's deadline (for a node: at registration, at
// every heartbeat, after a parameter change, and when its suspect deadline
// passes, for the down deadline), and, when it pops an entry, discards it
// if it no longer matches the id's current deadline (lazy invalidation).
// When stale entries pile up (Len above app.DeadlineQueueSlack per node or
// task, plus 1024), the owner Resets the queue and pushes the current
// deadlines again. The heap is in memory only; app.LoadState rebuilds both
// queues from the records.
type DeadlineQueue struct {
	items []Deadline
}

// Deadline is one queue entry.
type Deadline struct {
	AtMs int64  // when it falls due, in the owner's clock (ms)
	ID   string // node id or task id
}

func (d Deadline) less(o Deadline) bool {
	if d.AtMs != o.AtMs {
		return d.AtMs < o.AtMs
	}
	return d.ID < o.ID
}

// Len is the number of entries, stale ones included (the owner rebuilds
// the queue when it grows too far past the number of ids).
func (q *DeadlineQueue) Len() int { return len(q.items) }

// Reset empties the queue, keeping its storage (before a rebuild).
func (q *DeadlineQueue) Reset() { q.items = q.items[:0] }

// Push adds an entry.
func (q *DeadlineQueue) Push(d Deadline) {
	q.items = append(q.items, d)
	i := len(q.items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q.items[i].less(q.items[p]) {
			break
		}
		q.items[i], q.items[p] = q.items[p], q.items[i]
		i = p
	}
}

// PopDue removes and returns the earliest entry (smallest AtMs, then
// smallest ID) if its deadline is at or before nowMs; it may be stale, and
// the caller checks. ok is false when nothing is due.
func (q *DeadlineQueue) PopDue(nowMs int64) (Deadline, bool) {
	if len(q.items) == 0 || q.items[0].AtMs > nowMs {
		return Deadline{}, false
	}
	top := q.items[0]
	last := len(q.items) - 1
	q.items[0] = q.items[last]
	q.items = q.items[:last]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(q.items) && q.items[l].less(q.items[m]) {
			m = l
		}
		if r < len(q.items) && q.items[r].less(q.items[m]) {
			m = r
		}
		if m == i {
			break
		}
		q.items[i], q.items[m] = q.items[m], q.items[i]
		i = m
	}
	return top, true
}
