// Package schedule fires schedules: a project's job templates submitted on a
// cron expression in a time zone. Every server runs a Scheduler; the store's
// claim (next_run_at moved from the value read, in the transaction that
// submits the jobs) makes sure only one of them fires each run.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"
	_ "time/tzdata" // IANA zones also where the system has no zoneinfo

	"github.com/robfig/cron/v3"

	"github.com/aura-ci/aura/backend/internal/events"
	"github.com/aura-ci/aura/backend/internal/store"
)

// FieldError is a schedule setting that does not work, naming its field.
type FieldError struct {
	Field, Message string
}

func (e *FieldError) Error() string { return e.Message }

// Spec is a parsed cron expression in its time zone.
type Spec struct {
	cron cron.Schedule
	loc  *time.Location
}

// Parse checks a cron expression (5 fields, or a descriptor such as @daily)
// and an IANA time zone name.
func Parse(expr, zone string) (*Spec, error) {
	if zone == "" || zone == "Local" || strings.ContainsAny(zone, " \t") {
		return nil, &FieldError{Field: "timezone", Message: "field timezone must be an IANA time zone such as Europe/Berlin or UTC"}
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, &FieldError{Field: "timezone", Message: "field timezone must be an IANA time zone such as Europe/Berlin or UTC: " + zone + " is unknown"}
	}
	if strings.Contains(expr, "TZ=") {
		return nil, &FieldError{Field: "cron", Message: "field cron takes no time zone: set timezone instead"}
	}
	c, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, &FieldError{Field: "cron", Message: "field cron must be 5 fields (minute hour day month weekday) or a descriptor such as @daily: " + err.Error()}
	}
	if _, ok := c.(cron.ConstantDelaySchedule); ok {
		return nil, &FieldError{Field: "cron", Message: "field cron must be 5 fields or @yearly, @monthly, @weekly, @daily or @hourly; @every is not supported"}
	}
	if c.Next(time.Now().In(loc)).IsZero() {
		return nil, &FieldError{Field: "cron", Message: "field cron never matches a date"}
	}
	return &Spec{cron: c, loc: loc}, nil
}

// Next is the first run strictly after t. The expression is matched against
// the zone's wall clock: a time the spring change skips runs at the same wall
// time an hour on (02:30 → 03:30 CEST) instead of not at all, and a time the
// autumn change repeats runs once.
func (s *Spec) Next(t time.Time) time.Time {
	w := t.In(s.loc)
	wall := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), time.UTC)
	for range 1000 {
		nw := s.cron.Next(wall)
		if nw.IsZero() {
			return nw
		}
		at := time.Date(nw.Year(), nw.Month(), nw.Day(), nw.Hour(), nw.Minute(), 0, 0, s.loc)
		if at.After(t) {
			return at.UTC()
		}
		wall = nw // a wall time the autumn change repeats, already run
	}
	return time.Time{}
}

// EntityVal names a run at t: its local date and time in the schedule's zone
// (nightly/2026-12-06T02:00). A run started by hand also has seconds, so two of
// them in one minute stay apart.
func (s *Spec) EntityVal(t time.Time, manual bool) string {
	if manual {
		return t.In(s.loc).Format("2006-01-02T15:04:05")
	}
	return t.In(s.loc).Format("2006-01-02T15:04")
}

// Scheduler fires the schedules that are due, on time, on this server.
type Scheduler struct {
	Store  *store.Store
	Logger *slog.Logger
	// NowFunc is the clock; nil: time.Now.
	NowFunc func() time.Time

	kick chan struct{}
}

// New returns a Scheduler over st.
func New(st *store.Store, logger *slog.Logger) *Scheduler {
	if logger == nil {
		logger = slog.Default()
	}
	return &Scheduler{Store: st, Logger: logger, kick: make(chan struct{}, 1)}
}

func (s *Scheduler) now() time.Time {
	if s.NowFunc != nil {
		return s.NowFunc()
	}
	return time.Now()
}

// Listen re-plans on every change to a schedule, on any server, and after the
// listener reconnected (notifications may have been missed).
func (s *Scheduler) Listen(l *events.Listener) {
	l.Handle(store.ChannelSchedules, func(string) { s.Kick() })
	l.OnReconnect(s.Kick)
}

// Kick makes the loop re-read the earliest next run.
func (s *Scheduler) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run sleeps until the earliest next run, fires what is due, and repeats until
// ctx ends. It reads one indexed min() per change, never scans schedules.
func (s *Scheduler) Run(ctx context.Context) {
	for ctx.Err() == nil {
		wait := time.Minute // a safety net: notifications say when to look again
		next, err := s.Store.ScheduleNextRun(ctx)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				s.Logger.Warn("scheduler", "err", err)
			}
			wait = time.Second
		case next != nil:
			wait = min(wait, next.Sub(s.now()))
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-s.kick:
				t.Stop()
				continue
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
		if _, err := s.FireDue(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Warn("fire schedules", "err", err)
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
		}
	}
}

// FireDue fires every schedule due now, once each however many runs it missed,
// and returns how many this server fired (another server may take some).
func (s *Scheduler) FireDue(ctx context.Context) (int, error) {
	fired := 0
	for {
		due, err := s.Store.ScheduleDue(ctx, s.now(), 100)
		if err != nil || len(due) == 0 {
			return fired, err
		}
		for _, sc := range due {
			ok, err := s.fire(ctx, sc)
			if err != nil {
				return fired, err
			}
			if ok {
				fired++
			}
		}
		if len(due) < 100 {
			return fired, nil
		}
	}
}

// fire runs sc's due run, unless another server did. The next run is the first
// after now, not after the missed one: a run missed during an outage fires once.
func (s *Scheduler) fire(ctx context.Context, sc *store.Schedule) (bool, error) {
	now := s.now()
	p := &store.ScheduleFireParams{ScheduleID: sc.ID, Claim: true, Due: sc.NextRunAt, RunAt: now}
	spec, err := Parse(sc.Cron, sc.Timezone)
	if err != nil {
		// Saved before the zone or the parser changed: park it far away, said on the schedule.
		p.Next = now.AddDate(100, 0, 0)
		p.Result = "not run: " + err.Error()
		return false, ignoreNotDue(s.Store.ScheduleFailed(ctx, p))
	}
	p.Next = spec.Next(now)
	planned := latestPlanned(spec, sc.NextRunAt, now)
	p.EntityVal = spec.EntityVal(planned, false)
	_, err = s.submit(ctx, sc, p, planned, nil)
	var refused *store.Error
	switch {
	case errors.Is(err, store.ErrNotDue):
		return false, nil // another server fired it
	case errors.As(err, &refused):
		s.Logger.Warn("schedule run not submitted", "schedule", sc.ID, "project", sc.Project, "err", err)
		return false, nil // recorded on the schedule, which moved on
	}
	return err == nil, err
}

// latestPlanned is the last time the schedule was planned to run at or before
// now, from its next run due: the run that fires for all those missed is named
// after the most recent of them.
func latestPlanned(spec *Spec, due, now time.Time) time.Time {
	planned := due
	for range 100_000 { // a minute-by-minute schedule missed for over two months stops here
		n := spec.Next(planned)
		if n.IsZero() || n.After(now) {
			break
		}
		planned = n
	}
	return planned
}

func ignoreNotDue(err error) error {
	if errors.Is(err, store.ErrNotDue) {
		return nil
	}
	return err
}

// RunNow submits sc's jobs at once, with extra environment values, to the
// entity of this moment; the schedule's next run stays.
func (s *Scheduler) RunNow(ctx context.Context, sc *store.Schedule, env map[string]string) ([]*store.Job, string, error) {
	spec, err := Parse(sc.Cron, sc.Timezone)
	if err != nil {
		return nil, "", err
	}
	now := s.now()
	p := &store.ScheduleFireParams{ScheduleID: sc.ID, RunAt: now, EntityVal: spec.EntityVal(now, true)}
	jobs, err := s.submit(ctx, sc, p, now, env)
	return jobs, p.EntityVal, err
}

// submit builds the jobs of one run and fires it. A run whose jobs the store
// refuses is recorded as failed (and, when claimed, moves on to its next run).
func (s *Scheduler) submit(ctx context.Context, sc *store.Schedule, p *store.ScheduleFireParams, planned time.Time, extra map[string]string) ([]*store.Job, error) {
	var names []string
	for _, t := range sc.Jobs {
		names = append(names, t.Secrets...)
	}
	secrets := map[string]string{}
	if len(names) > 0 {
		var err error
		if secrets, err = s.Store.ProjectSecretsOpen(ctx, sc.ProjectID, names); err != nil {
			return nil, err
		}
	}
	var missing []string
	for _, t := range sc.Jobs {
		env := maps.Clone(t.Env)
		if env == nil {
			env = map[string]string{}
		}
		maps.Copy(env, extra)
		// The schedule's facts win, as a forge's do for an integration.
		env["AURA_SCHEDULE"] = sc.Name
		env["AURA_SCHEDULE_TIME"] = planned.UTC().Format(time.RFC3339)
		secretEnv := map[string]string{}
		for _, name := range t.Secrets {
			if v, ok := secrets[name]; ok {
				secretEnv[name] = v
			} else {
				missing = append(missing, name)
			}
		}
		p.Jobs = append(p.Jobs, &store.JobSubmitParams{
			SubmittedBy: &store.Actor{Kind: store.ActorSchedule, Name: "schedule " + sc.Name},
			JobSpec:     store.JobSpec{Name: t.Name, Cmd: t.Cmd, Tag: t.Tag, Env: env},
			ProjectID:   sc.ProjectID, ProjectSlug: sc.Project, EntityKey: sc.EntityKey, EntityVal: p.EntityVal,
			SecretEnv: secretEnv, Collections: map[string]string{"schedule": sc.Name},
			EntityTitle: "schedule " + sc.Name,
		})
	}
	p.Result = fmt.Sprintf("submitted %d job(s)", len(p.Jobs))
	if len(missing) > 0 {
		p.Result += "; project secrets not set: " + strings.Join(missing, ", ")
	}
	jobs, err := s.Store.ScheduleFire(ctx, p)
	var se *store.Error
	if errors.As(err, &se) {
		p.Result = "not submitted: " + se.Error()
		if ferr := ignoreNotDue(s.Store.ScheduleFailed(ctx, p)); ferr != nil {
			return nil, ferr
		}
		return nil, err
	}
	return jobs, err
}
