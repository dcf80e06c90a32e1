package store

import (
	"sync"
	"time"
)

// maxLogCarries bounds how many attempts' carries a server keeps; past it one is
// dropped (its next chunk takes the locked path).
const maxLogCarries = 4096

// logKey names one attempt's log.
type logKey struct {
	jobID   int64
	attempt int
}

// logCarry is what the server that stored an attempt's last chunk keeps for the
// next one: the secret forms (the sealed secrets opened once), the checksum
// state and the stored tail a form may straddle from. It is valid only for the
// hand-out it was made in (startedAt) and at length, which the database checks.
type logCarry struct {
	startedAt time.Time
	claims    int // the hand-out whose token the forms mask
	length    int64
	hashState []byte
	mask      []string // the extra values the forms were made with
	forms     [][]byte
	match     *matcher // finds the forms
	tail      []byte   // the stored last bytes, at most back()
}

// back is how many stored bytes a form ending in the next chunk may begin in.
func (c *logCarry) back() int { return max(longestForm(c.forms)-1, 0) }

// logCarries holds the carries of the attempts this server appended to last.
// Its zero value is ready; it is only ever a shortcut, never the truth.
type logCarries struct {
	mu sync.Mutex
	m  map[logKey]*logCarry
}

func (l *logCarries) get(k logKey) *logCarry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[k]
}

func (l *logCarries) put(k logKey, c *logCarry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[logKey]*logCarry{}
	}
	if _, ok := l.m[k]; !ok && len(l.m) >= maxLogCarries {
		for old := range l.m {
			delete(l.m, old)
			break
		}
	}
	l.m[k] = c
}

// advance replaces the carry of k by c if it still is the one at length from.
func (l *logCarries) advance(k logKey, from int64, c *logCarry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if old := l.m[k]; old != nil && old.length == from && old.startedAt.Equal(c.startedAt) {
		l.m[k] = c
	}
}

func (l *logCarries) drop(k logKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, k)
}
