// Command aura-testdb runs a throw-away PostgreSQL cluster for the tests, the way
// scripts/test uses it: it prints one line, AURA_TEST_DATABASE_URL=<URL of the
// maintenance database>, then runs until it gets SIGINT or SIGTERM or its standard
// input is closed, and then stops the cluster and removes the cluster it created.
//
// The cluster runs with fsync off: never keep data in it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/aura-ci/aura/backend/internal/pgcluster"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("aura-testdb: ")
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	dir := flag.String("dir", "", "data directory (default: a new one in /dev/shm or the temporary folder)")
	keep := flag.Bool("keep", false, "keep the data directory on exit")
	watchStdin := flag.Bool("watch-stdin", true, "exit when standard input is closed")
	verbose := flag.Bool("v", false, "log progress to standard error")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	created := false
	if *dir == "" {
		d, err := pgcluster.TempDir("aura-testdb-")
		if err != nil {
			return err
		}
		*dir, created = d, true
	} else if _, err := os.Stat(filepath.Join(*dir, "PG_VERSION")); errors.Is(err, fs.ErrNotExist) {
		created = true
	}
	remove := func() {
		if created && !*keep {
			_ = os.RemoveAll(*dir)
		}
	}

	cfg := pgcluster.Config{Dir: *dir, Fast: true}
	if *verbose {
		cfg.Logf = log.Printf
	}
	c, err := pgcluster.Start(ctx, cfg)
	if err != nil {
		remove()
		return err
	}
	fmt.Printf("AURA_TEST_DATABASE_URL=%s\n", c.URL("postgres"))

	stdinClosed := make(chan struct{})
	if *watchStdin {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			close(stdinClosed)
		}()
	}
	select {
	case <-ctx.Done():
	case <-stdinClosed:
	}
	err = c.Stop()
	remove()
	return err
}
