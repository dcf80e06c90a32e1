// Package report holds what the bench CLIs print: one JSON object with a list of
// figures, each a key, a label, a value and a unit.
package report

import (
	"encoding/json"
	"io"
	"math"
	"slices"
	"time"
)

// Figure is one measured number.
type Figure struct {
	Key   string  `json:"key"`
	Label string  `json:"label"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

// Quantile returns the q-quantile (0..1) of ds in milliseconds, rounded to
// microseconds; 0 for no samples. It sorts ds.
func Quantile(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := min(len(ds)-1, int(float64(len(ds))*q))
	return Round(float64(ds[i].Microseconds())/1000, 3)
}

// Round rounds v to digits decimals.
func Round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// Write prints v as indented JSON followed by a newline.
func Write(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
