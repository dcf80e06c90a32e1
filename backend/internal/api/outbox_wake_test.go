package api_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/events"
	"github.com/aura-ci/aura/backend/internal/integrations"
	"github.com/aura-ci/aura/backend/internal/store"
)

// runSender runs snd (with a listener of its own when listen) until the test ends.
func (s *statusBundle) runSender(snd *integrations.Sender, listen bool) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	s.t.Cleanup(func() { cancel(); wg.Wait() })
	if listen {
		l := events.NewListener(store.ConnURL(s.dbURL))
		snd.Listen(l)
		wg.Go(func() { l.Run(ctx) })
		<-l.Ready()
	}
	wg.Go(func() { snd.Run(ctx) })
}

// TestStatusSenderWakesForRetry: a sender that would sleep an hour without a
// signal looks again when a failed delivery's retry is due, not at its next poll.
func TestStatusSenderWakesForRetry(t *testing.T) {
	t.Parallel()
	s := setupStatuses(t, "gitea", "owner/repo", nil)
	s.forge.mu.Lock()
	s.forge.failNext = 1
	s.forge.mu.Unlock()
	snd := integrations.NewSender(s.testBundle.forge, integrations.SenderConfig{Poll: time.Hour,
		BackoffMin: 300 * time.Millisecond, Lease: 10 * time.Second}, nil)
	s.runSender(snd, false)
	s.push(sha(1)) // kicks the sender: it fails once, then sleeps until the retry is due
	require.Eventually(t, func() bool { return len(s.forge.received()) == 1 }, 10*time.Second, 5*time.Millisecond,
		"the retry was sent when due")
	require.Equal(t, 2, s.forge.hitCount())
}

// TestStatusSenderWakesForAnotherServersJob: a job transition committed by
// another server (no kick reaches this one) wakes a listening sender through
// its event, long before its poll.
func TestStatusSenderWakesForAnotherServersJob(t *testing.T) {
	t.Parallel()
	s := setupStatuses(t, "gitea", "owner/repo", nil)
	s.push(sha(2))
	drainOutbox(t, s.sender()) // "pending" sent, nothing due
	require.Len(t, s.forge.received(), 1)
	other := integrations.NewSender(&integrations.Service{Store: store.New(s.pool, s.testBundle.box),
		BaseURL: "http://aura.test", Reporter: integrations.NewReporter(time.Second)},
		integrations.SenderConfig{Poll: time.Hour}, nil)
	// Its first look (the claim, then when the next row is due) finds nothing:
	// it would sleep an hour. Then a job ends on "another server".
	s.startWaiting("status_outbox", "%FROM status_outbox%", 2, func() { s.runSender(other, true) })
	s.run(0)
	require.Eventually(t, func() bool {
		got := s.forge.received()
		return len(got) == 2 && got[1].State == "success"
	}, 10*time.Second, 5*time.Millisecond, "the job's end was reported")
}
