package bench

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTableAndRatios(t *testing.T) {
	figs := []Figure{
		atMost(Figure{Key: "dispatch_p50_ms", Label: "dispatch p50", Value: 2.5, Unit: "ms"}, 3),
		atLeast(Figure{Key: "claim_jobs_per_s", Label: "claims", Value: 4000, Unit: "jobs/s"}, 5000),
		{Key: "river_bench_dispatch_p50_ms", Label: "River dispatch p50", Value: 1.25, Unit: "ms"},
		{Key: "river_bench_jobs_per_s", Label: "River throughput", Value: 8000, Unit: "jobs/s"},
	}
	require.True(t, *figs[0].OK)
	require.False(t, *figs[1].OK)
	ratios := Ratios(figs)
	require.Len(t, ratios, 2)
	require.Equal(t, "ratio_bench_dispatch_p50_ms", ratios[0].Key)
	require.InDelta(t, 2.0, ratios[0].Value, 1e-9)
	require.InDelta(t, 0.5, ratios[1].Value, 1e-9)
	require.Equal(t, riverNote, ratios[0].Note)

	var out bytes.Buffer
	PrintTable(&out, append(figs, ratios...))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 2+6)
	require.Regexp(t, `^dispatch p50 +2\.50 ms +≤ 3 ms +yes`, lines[2])
	require.Regexp(t, `^claims +4,000 jobs/s +≥ 5,000 jobs/s +NO`, lines[3])
	require.Contains(t, lines[6], "(River runs in-process, no HTTP hop)")
}
