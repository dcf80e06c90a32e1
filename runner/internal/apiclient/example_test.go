package apiclient_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net/http"

	"github.com/aura-ci/aura/runner/internal/apiclient"
)

// Example walks one job through the runner life cycle: claim, one log chunk,
// heartbeat, complete. It is compiled but not run, as it needs a server.
func Example() {
	ctx := context.Background()
	token := "AURA_RUNNERKEY_builder-…"
	client, err := apiclient.NewClientWithResponses("http://localhost:8420",
		apiclient.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			req.Header.Set("Authorization", "Bearer "+token)
			return nil
		}))
	if err != nil {
		log.Fatal(err)
	}

	claim, err := client.ClaimJobsWithResponse(ctx, apiclient.ClaimRequest{
		Tags:     []string{"native,linux"},
		Capacity: 1,
	})
	if err != nil || claim.JSON200 == nil {
		log.Fatalf("claim: %v %s", err, claim.Status())
	}
	for _, job := range claim.JSON200.Jobs {
		chunk := []byte("hello\n")
		appended, err := client.AppendJobLogWithBodyWithResponse(ctx, job.Id,
			&apiclient.AppendJobLogParams{Attempt: job.Attempt, Offset: 0},
			"application/octet-stream", bytes.NewReader(chunk))
		if err != nil {
			log.Fatal(err)
		}
		if appended.JSON410 != nil {
			continue // stale attempt: stop this job
		}

		beat, err := client.HeartbeatJobWithResponse(ctx, job.Id, apiclient.HeartbeatRequest{Attempt: job.Attempt})
		if err != nil {
			log.Fatal(err)
		}
		if beat.JSON200 != nil && beat.JSON200.Cancel {
			fmt.Println("cancelled")
		}

		done, err := client.CompleteJobWithResponse(ctx, job.Id, apiclient.JobComplete{Attempt: job.Attempt, ExitCode: 0})
		if err != nil {
			log.Fatal(err)
		}
		if done.JSON200 != nil && done.JSON200.Status == apiclient.JobStatusSucceeded {
			fmt.Println("succeeded")
		}
	}
}
