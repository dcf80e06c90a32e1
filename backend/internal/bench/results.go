package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Figure is one measured value, with its target when it has one.
type Figure struct {
	Key   string  `json:"key"`
	Label string  `json:"label"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	// Max or Min is the target: the value must stay at or below Max, or reach Min.
	Max *float64 `json:"max,omitempty"`
	Min *float64 `json:"min,omitempty"`
	// OK says whether the target was met; nil without a target.
	OK   *bool  `json:"ok,omitempty"`
	Note string `json:"note,omitempty"`
}

// Report is the whole run, as the JSON file holds it.
type Report struct {
	Started  time.Time `json:"started"`
	Mode     string    `json:"mode"`
	Machine  string    `json:"machine"`
	Figures  []Figure  `json:"figures"`
	Notes    []string  `json:"notes,omitempty"`
	Errors   []string  `json:"errors,omitempty"`
	Duration float64   `json:"durationSeconds"`
}

func atMost(f Figure, limit float64) Figure {
	f.Max = &limit
	ok := f.Value <= limit
	f.OK = &ok
	return f
}

func atLeast(f Figure, limit float64) Figure {
	f.Min = &limit
	ok := f.Value >= limit
	f.OK = &ok
	return f
}

// target is how the table shows a figure's target.
func (f Figure) target() string {
	switch {
	case f.Max != nil:
		return "≤ " + num(*f.Max) + " " + f.Unit
	case f.Min != nil:
		return "≥ " + num(*f.Min) + " " + f.Unit
	}
	return ""
}

func num(v float64) string {
	switch {
	case v == math.Trunc(v) && math.Abs(v) >= 1000:
		s := fmt.Sprintf("%.0f", v)
		var b strings.Builder
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		return b.String()
	case v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// PrintTable writes the figures as one table: figure | value | target | ok?
func PrintTable(w io.Writer, figs []Figure) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\ttarget\tok?\t")
	fmt.Fprintln(tw, "------\t-----\t------\t---\t")
	for _, f := range figs {
		ok := ""
		if f.OK != nil {
			ok = "yes"
			if !*f.OK {
				ok = "NO"
			}
		}
		label := f.Label
		if f.Note != "" {
			label += " (" + f.Note + ")"
		}
		fmt.Fprintf(tw, "%s\t%s %s\t%s\t%s\t\n", label, num(f.Value), f.Unit, f.target(), ok)
	}
	_ = tw.Flush()
}

// WriteJSON writes the report to path.
func WriteJSON(path string, r *Report) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// quantile is the q-quantile of ds in milliseconds (ds is sorted on the way).
func quantile(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return math.NaN()
	}
	slices.Sort(ds)
	return float64(ds[min(len(ds)-1, int(float64(len(ds))*q))].Microseconds()) / 1000
}
