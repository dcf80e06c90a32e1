package schedule_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/events"
	"github.com/aura-ci/aura/backend/internal/schedule"
	"github.com/aura-ci/aura/backend/internal/seal"
	"github.com/aura-ci/aura/backend/internal/store"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cron, zone, field string
	}{
		{"0 2 * * *", "Europe/Berlin", ""},
		{"@daily", "UTC", ""},
		{"@weekly", "America/New_York", ""},
		{"*/15 9-17 * * 1-5", "Asia/Kolkata", ""},
		{"0 2 * * *", "", "timezone"},
		{"0 2 * * *", "Local", "timezone"},
		{"0 2 * * *", "Mars/Olympus", "timezone"},
		{"0 2 * * *", "../../etc/passwd", "timezone"},
		{"", "UTC", "cron"},
		{"0 2 * *", "UTC", "cron"},
		{"0 0 2 * * *", "UTC", "cron"}, // seconds are not a field here
		{"61 2 * * *", "UTC", "cron"},
		{"@every 1m", "UTC", "cron"},
		{"@sometimes", "UTC", "cron"},
		{"CRON_TZ=UTC 0 2 * * *", "UTC", "cron"},
		{"0 0 30 2 *", "UTC", "cron"}, // 30 February never comes
	} {
		_, err := schedule.Parse(tc.cron, tc.zone)
		if tc.field == "" {
			require.NoError(t, err, "%q %q", tc.cron, tc.zone)
			continue
		}
		var fe *schedule.FieldError
		require.ErrorAs(t, err, &fe, "%q %q", tc.cron, tc.zone)
		require.Equal(t, tc.field, fe.Field, "%q %q: %s", tc.cron, tc.zone, fe.Message)
	}
}

func TestNextInTimeZoneAndDST(t *testing.T) {
	t.Parallel()
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return v
	}
	for _, tc := range []struct {
		cron, zone, after, want, entity string
	}{
		// 02:00 in Berlin is 01:00 UTC in winter.
		{"0 2 * * *", "Europe/Berlin", "2026-12-06T00:30:00Z", "2026-12-06T01:00:00Z", "2026-12-06T02:00"},
		// 09:00 stays 09:00 local across the spring change: 08:00 UTC before, 07:00 UTC after.
		{"0 9 * * *", "Europe/Berlin", "2026-03-28T08:30:00Z", "2026-03-29T07:00:00Z", "2026-03-29T09:00"},
		{"0 9 * * *", "Europe/Berlin", "2026-03-27T09:30:00Z", "2026-03-28T08:00:00Z", "2026-03-28T09:00"},
		// and across the autumn change back.
		{"0 9 * * *", "Europe/Berlin", "2026-10-24T08:30:00Z", "2026-10-25T08:00:00Z", "2026-10-25T09:00"},
		// 02:30 does not exist on 29 March in Berlin: that day's run is at 03:30 local, once.
		{"30 2 * * *", "Europe/Berlin", "2026-03-28T02:00:00Z", "2026-03-29T01:30:00Z", "2026-03-29T03:30"},
		// @daily is local midnight.
		{"@daily", "America/New_York", "2026-12-06T04:59:00Z", "2026-12-06T05:00:00Z", "2026-12-06T00:00"},
		// UTC+05:30.
		{"0 2 * * *", "Asia/Kolkata", "2026-12-06T00:00:00Z", "2026-12-06T20:30:00Z", "2026-12-07T02:00"},
	} {
		spec, err := schedule.Parse(tc.cron, tc.zone)
		require.NoError(t, err)
		next := spec.Next(utc(tc.after))
		require.Equal(t, utc(tc.want), next, "%s %s after %s", tc.cron, tc.zone, tc.after)
		require.Equal(t, tc.entity, spec.EntityVal(next, false))
	}
	// The autumn change repeats 02:30 in Berlin: one run that night, not two.
	spec, err := schedule.Parse("30 2 * * *", "Europe/Berlin")
	require.NoError(t, err)
	first := spec.Next(utc("2026-10-24T12:00:00Z"))
	second := spec.Next(first)
	require.Equal(t, utc("2026-10-25T01:30:00Z"), first, "02:30 CET, the later of the two")
	require.Equal(t, utc("2026-10-26T01:30:00Z"), second)
}

type bundle struct {
	url     string
	pool    *pgxpool.Pool
	st      *store.Store
	project *store.Project
}

func setup(t *testing.T) *bundle {
	t.Helper()
	url := dbtest.NewURL(t)
	b := &bundle{url: url}
	b.pool, b.st = open(t, url)
	var err error
	b.project, err = b.st.ProjectCreate(t.Context(), "p", "P", false, nil)
	require.NoError(t, err)
	return b
}

var box = func() *seal.Box {
	b, err := seal.New(seal.NewKey())
	if err != nil {
		panic(err)
	}
	return b
}()

// open is one server's view of the database: its own pool and store.
func open(t *testing.T, url string) (*pgxpool.Pool, *store.Store) {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool, store.New(pool, box)
}

func (b *bundle) schedule(t *testing.T, name, cron string, next time.Time) *store.Schedule {
	t.Helper()
	zone, key := "UTC", "nightly"
	sc, err := b.st.ScheduleCreate(t.Context(), b.project.ID, &store.ScheduleParams{
		Name: &name, Cron: &cron, Timezone: &zone, EntityKey: &key, NextRunAt: &next,
		Jobs: []store.JobTemplate{{Name: "build", Cmd: "make", Tag: "linux"}, {Name: "test", Cmd: "make test", Tag: "linux",
			Env: map[string]string{"LEVEL": "full"}}},
	})
	require.NoError(t, err)
	return sc
}

func (b *bundle) jobCount(t *testing.T) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT count(*) FROM jobs`).Scan(&n))
	return n
}

func TestMissedRunsFireOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	now := time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC)
	// Due three days ago: the server was down for three nightly runs.
	sc := b.schedule(t, "nightly", "0 2 * * *", now.Add(-67*time.Hour))
	s := schedule.New(b.st, nil)
	s.NowFunc = func() time.Time { return now }

	fired, err := s.FireDue(t.Context())
	require.NoError(t, err)
	require.Equal(t, 1, fired)
	require.Equal(t, 2, b.jobCount(t), "one run: its two jobs")
	fired, err = s.FireDue(t.Context())
	require.NoError(t, err)
	require.Equal(t, 0, fired)
	require.Equal(t, 2, b.jobCount(t))

	got, err := b.st.ScheduleGet(t.Context(), sc.ID)
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC), got.NextRunAt.UTC(), "the next run after now, not after the missed one")
	require.Equal(t, now, got.LastRunAt.UTC())
	require.Equal(t, "2026-12-06T02:00", got.LastEntity, "the run is named after the latest time it was planned for")
	require.Equal(t, "submitted 2 job(s)", got.LastResult)

	var env map[string]string
	var key, val string
	require.NoError(t, b.pool.QueryRow(t.Context(), `
		SELECT j.env, e.key, e.value FROM jobs j JOIN entities e ON e.id = j.entity_id WHERE j.name = 'test'`).Scan(&env, &key, &val))
	require.Equal(t, "nightly", key)
	require.Equal(t, "2026-12-06T02:00", val)
	require.Equal(t, "full", env["LEVEL"])
	require.Equal(t, "nightly", env["AURA_SCHEDULE"])
	require.Equal(t, "2026-12-06T02:00:00Z", env["AURA_SCHEDULE_TIME"])
}

func TestRunNowKeepsNextRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	next := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	sc := b.schedule(t, "nightly", "@daily", next)
	jobs, val, err := schedule.New(b.st, nil).RunNow(t.Context(), sc, map[string]string{"EXTRA": "1", "AURA_SCHEDULE": "mine"})
	require.NoError(t, err)
	require.Len(t, jobs, 2)
	require.Equal(t, "1", jobs[0].Env["EXTRA"])
	require.Equal(t, "nightly", jobs[0].Env["AURA_SCHEDULE"], "the schedule's own variables win")
	require.Equal(t, val, jobs[0].EntityVal)
	got, err := b.st.ScheduleGet(t.Context(), sc.ID)
	require.NoError(t, err)
	require.True(t, next.Equal(got.NextRunAt))
	require.Equal(t, val, got.LastEntity)
}

// TestTwoServersNeverFireTwice races two servers' schedulers, each with its own
// pool, over the same due runs, many times.
func TestTwoServersNeverFireTwice(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, st2 := open(t, b.url)
	a, c := schedule.New(b.st, nil), schedule.New(st2, nil)
	const runs = 20
	sc := b.schedule(t, "nightly", "@daily", time.Now().Add(-time.Minute))
	total := 0
	for range runs {
		var wg sync.WaitGroup
		var fa, fc int
		wg.Go(func() {
			var err error
			fa, err = a.FireDue(t.Context())
			require.NoError(t, err)
		})
		wg.Go(func() {
			var err error
			fc, err = c.FireDue(t.Context())
			require.NoError(t, err)
		})
		wg.Wait()
		require.Equal(t, 1, fa+fc)
		total += fa + fc
		// Due again, as if a day had passed.
		past := time.Now().Add(-time.Minute)
		_, err := b.st.ScheduleUpdate(t.Context(), sc.ID, &store.ScheduleParams{NextRunAt: &past})
		require.NoError(t, err)
	}
	require.Equal(t, runs, total)
	require.Equal(t, 2*runs, b.jobCount(t))
}

// TestTwoServersFireOnTime runs two servers' loops: a schedule changed on one
// is seen by the other (LISTEN/NOTIFY), and its run fires once, on time. The
// deadline is generous; BenchmarkScheduleLatency measures how late a run is.
func TestTwoServersFireOnTime(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, st2 := open(t, b.url)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, st := range []*store.Store{b.st, st2} {
		s := schedule.New(st, nil)
		l := events.NewListener(b.url)
		s.Listen(l)
		wg.Go(func() { l.Run(ctx) })
		<-l.Ready()
		wg.Go(func() { s.Run(ctx) })
	}
	sc := b.schedule(t, "nightly", "@daily", time.Now().Add(time.Hour))
	// Both loops now sleep towards the hour; the edit brings the run near.
	due := time.Now().Add(300 * time.Millisecond)
	_, err := b.st.ScheduleUpdate(t.Context(), sc.ID, &store.ScheduleParams{NextRunAt: &due})
	require.NoError(t, err)
	deadline := time.Now().Add(30 * time.Second)
	for b.jobCount(t) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	require.Equal(t, 2, b.jobCount(t), "fired before the deadline")
	got, err := b.st.ScheduleGet(t.Context(), sc.ID)
	require.NoError(t, err)
	require.True(t, got.NextRunAt.After(time.Now()), "the next run is tomorrow")
	require.False(t, got.LastRunAt.Before(due), "not early")
}

// BenchmarkScheduleLatency measures how late a run fires after its time with
// two servers' loops running: the ms-late figure is the mean.
func BenchmarkScheduleLatency(b *testing.B) {
	url := dbtest.NewURL(b)
	ctx, cancel := context.WithCancel(b.Context())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	var stores []*store.Store
	var pools []*pgxpool.Pool
	for range 2 {
		pool, err := pgxpool.New(ctx, url)
		require.NoError(b, err)
		defer pool.Close()
		st := store.New(pool, box)
		stores, pools = append(stores, st), append(pools, pool)
		s := schedule.New(st, nil)
		l := events.NewListener(url)
		s.Listen(l)
		wg.Go(func() { l.Run(ctx) })
		<-l.Ready()
		wg.Go(func() { s.Run(ctx) })
	}
	p, err := stores[0].ProjectCreate(ctx, "p", "P", false, nil)
	require.NoError(b, err)
	name, cron, zone, key := "n", "@daily", "UTC", "nightly"
	far := time.Now().Add(time.Hour)
	sc, err := stores[0].ScheduleCreate(ctx, p.ID, &store.ScheduleParams{Name: &name, Cron: &cron, Timezone: &zone,
		EntityKey: &key, NextRunAt: &far, Jobs: []store.JobTemplate{{Name: "build", Cmd: "make", Tag: "linux"}}})
	require.NoError(b, err)
	var late, worst time.Duration
	b.ResetTimer()
	for i := range b.N {
		due := time.Now().Add(100 * time.Millisecond)
		_, err := stores[i%2].ScheduleUpdate(ctx, sc.ID, &store.ScheduleParams{NextRunAt: &due})
		require.NoError(b, err)
		for {
			got, err := stores[0].ScheduleGet(ctx, sc.ID)
			require.NoError(b, err)
			if got.LastRunAt != nil && !got.LastRunAt.Before(due) {
				var created time.Time
				require.NoError(b, pools[0].QueryRow(ctx, `SELECT max(created_at) FROM jobs`).Scan(&created))
				d := created.Sub(due)
				late += d
				worst = max(worst, d)
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	b.ReportMetric(float64(late.Microseconds())/1000/float64(b.N), "ms-late")
	b.ReportMetric(float64(worst.Microseconds())/1000, "ms-worst")
}

func TestDeletedProjectFiresNoMore(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.schedule(t, "nightly", "@daily", time.Now().Add(-time.Minute))
	require.NoError(t, b.st.ProjectDelete(t.Context(), "p", nil))
	next, err := b.st.ScheduleNextRun(t.Context())
	require.NoError(t, err)
	require.Nil(t, next)
	fired, err := schedule.New(b.st, nil).FireDue(t.Context())
	require.NoError(t, err)
	require.Equal(t, 0, fired)
	require.Equal(t, 0, b.jobCount(t))
}
