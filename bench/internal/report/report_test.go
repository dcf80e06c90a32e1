package report

import (
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond+500*time.Microsecond)
	}
	if got := Quantile(ds, 0.5); got != 51.5 {
		t.Errorf("p50 %v, want 51.5", got)
	}
	if got := Quantile(ds, 0.99); got != 100.5 {
		t.Errorf("p99 %v, want 100.5", got)
	}
	if got := Quantile(nil, 0.5); got != 0 {
		t.Errorf("no samples: %v", got)
	}
	if got := Quantile([]time.Duration{1234567 * time.Nanosecond}, 0.99); got != 1.234 {
		t.Errorf("one sample: %v, want 1.234", got)
	}
}
