package cli

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
)

// action runs `aura retry|cancel|approve JOB…`: one POST per job.
func (c *command) action(ctx context.Context, verb string, args []string) error {
	var co common
	fs := c.flagSet(verb, "JOB… (job ids)", &co)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return usagef("give the id of the job to %s", verb)
	}
	ids, err := jobIDs(pos)
	if err != nil {
		return err
	}
	cl, err := c.client(&co)
	if err != nil {
		return err
	}
	done := map[string]string{"retry": "queued again", "cancel": "cancelled", "approve": "approved"}[verb]
	for _, id := range ids {
		var j Job
		raw, err := cl.send(ctx, http.MethodPost, fmt.Sprintf("/api/v1/jobs/%d/%s", id, verb), nil, nil, &j)
		if err != nil {
			return fmt.Errorf("job %d: %w", id, err)
		}
		if co.json {
			if err := c.printJSON(raw); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(c.env.Stdout, "job %d %s (%s #%d, %s)\n", id, done, j.Name, j.ID, j.Status)
	}
	return nil
}

func jobIDs(args []string) ([]int64, error) {
	ids := make([]int64, 0, len(args))
	for _, a := range args {
		id, err := strconv.ParseInt(a, 10, 64)
		if err != nil || id <= 0 {
			return nil, usagef("%q is not a job id", a)
		}
		ids = append(ids, id)
	}
	return ids, nil
}
