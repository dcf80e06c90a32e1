package schedule_test

import (
	"errors"
	"testing"
	"time"

	"github.com/aura-ci/aura/backend/internal/schedule"
)

// FuzzParse checks a schedule's cron expression and time zone as a project
// admin types them: a FieldError naming its field, never a panic; a spec that
// parses has a next run strictly later, on a whole minute, within a few years,
// and a run's entity value is a slug.
func FuzzParse(f *testing.F) {
	for _, s := range [][2]string{
		{"0 2 * * *", "Europe/Berlin"}, {"30 2 * * *", "Europe/Berlin"}, {"@daily", "UTC"}, {"@every 1m", "UTC"},
		{"*/15 9-17 * * MON-FRI", "America/New_York"}, {"0 0 30 2 *", "UTC"}, {"0 0 29 2 *", "Asia/Kolkata"},
		{"CRON_TZ=UTC 0 0 * * *", "UTC"}, {"0 0 * * *", "Local"}, {"0 0 * * *", "../../etc/passwd"},
		{"0 0 31 4 *", "UTC"}, {"59 23 31 12 *", "Pacific/Kiritimati"}, {"? ? ? ? ?", "UTC"}, {"1-0 * * * *", "UTC"},
	} {
		f.Add(s[0], s[1], int64(1796594400))
	}
	f.Fuzz(func(t *testing.T, expr, zone string, unix int64) {
		spec, err := schedule.Parse(expr, zone)
		if err != nil {
			var fe *schedule.FieldError
			if !errors.As(err, &fe) || (fe.Field != "cron" && fe.Field != "timezone") || fe.Message == "" {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		now := time.Unix(unix%(1<<34), 0).UTC() // until the year 2514
		next := spec.Next(now)
		if next.IsZero() {
			return // a date that stops matching (29 February past the last leap year cron looks at)
		}
		if !next.After(now) || next.Second() != 0 || next.Nanosecond() != 0 || next.Sub(now) > 9*366*24*time.Hour {
			t.Fatalf("%q in %s: next run after %v is %v", expr, zone, now, next)
		}
		for _, manual := range []bool{false, true} {
			v := spec.EntityVal(next, manual)
			if len(v) < 16 || len(v) > 19 {
				t.Fatalf("entity value %q", v)
			}
		}
	})
}
