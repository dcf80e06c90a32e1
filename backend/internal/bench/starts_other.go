//go:build !linux

package bench

func (w *startWatch) start() func() { return w.pollStarts() }
