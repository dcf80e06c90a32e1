package dispatch

// Parked tells whether a long poll of runnerID waits here, neither claiming
// nor reserved for a hand-off.
func (d *Dispatcher) Parked(runnerID int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, ws := range d.waiters {
		for _, w := range ws {
			if w.req.RunnerID == runnerID && w.parked && !w.reserved {
				return true
			}
		}
	}
	return false
}
