package health

// DeadlineQueue is a min-heap of (deadline, node id), ordered by deadline
// then id, so that due entries come out in one order on every validator.
// Entries are never updated in place: the owner pushes a new entry when a
// node's deadline changes and discards, when it pops one, any entry that
// no longer matches the node (lazy invalidation). The heap is in memory
// only; LoadState rebuilds it from the node records.
type DeadlineQueue struct {
	items []Deadline
}

// Deadline is one queue entry.
type Deadline struct {
	AtMs int64
	ID   string
}

func (d Deadline) less(o Deadline) bool {
	if d.AtMs != o.AtMs {
		return d.AtMs < o.AtMs
	}
	return d.ID < o.ID
}

// Len is the number of entries, stale ones included.
func (q *DeadlineQueue) Len() int { return len(q.items) }

// Reset empties the queue.
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

// PopDue removes and returns the earliest entry if its deadline is at or
// before nowMs.
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
