package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// Calibrate runs pgbench's single-row UPDATE for a few seconds with one client on
// a fresh database of the same PostgreSQL server, so that figures measured on a
// slower disk read fairly: every commit waits for its WAL flush there as Aura's do.
func (e *Env) Calibrate(seconds int) (figs []Figure, err error) {
	if e.PGBinDir == "" {
		return nil, fmt.Errorf("calibration: the PostgreSQL programs' folder is unknown")
	}
	pgbench := filepath.Join(e.PGBinDir, "pgbench")
	if _, err := os.Stat(pgbench); err != nil {
		return nil, fmt.Errorf("calibration: %w", err)
	}
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(benchFailure)
			if !ok {
				panic(r)
			}
			err = f.err
		}
	}()
	db := e.NewDatabase("pgbench")
	defer e.DropDatabase(db)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, pgbench, "-i", "-s", "1", "-q", db).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pgbench -i: %v: %s", err, out)
	}
	script := filepath.Join(e.TempDir(), "update.sql")
	check(os.WriteFile(script, []byte("\\set aid random(1, 100000)\nUPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :aid;\n"), 0o644), "pgbench script")
	out, err := exec.CommandContext(ctx, pgbench, "-n", "-c", "1", "-T", strconv.Itoa(seconds), "-f", script, db).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("pgbench: %v: %s", err, out)
	}
	tps := regexp.MustCompile(`tps = ([0-9.]+)`).FindSubmatch(out)
	lat := regexp.MustCompile(`latency average = ([0-9.]+) ms`).FindSubmatch(out)
	if tps == nil || lat == nil {
		return nil, fmt.Errorf("pgbench said: %s", out)
	}
	t, _ := strconv.ParseFloat(string(tps[1]), 64)
	l, _ := strconv.ParseFloat(string(lat[1]), 64)
	return []Figure{
		{Key: "pgbench_update_tps", Label: "calibration: pgbench single-row UPDATE, 1 client", Value: t, Unit: "tps"},
		{Key: "pgbench_update_latency_ms", Label: "calibration: pgbench single-row UPDATE latency", Value: l, Unit: "ms"},
	}, nil
}
