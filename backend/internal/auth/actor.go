package auth

import (
	"strconv"

	"github.com/aura-ci/aura/backend/internal/store"
)

// Actor is who did something, as jobs and the audit log record it.
type Actor = store.Actor

// Actor names p for the record: the admin token is "admin", a project token
// its name, a runner its name, a job token "job 123", a user (signed in, or by
// a personal token) their user name. Nobody (nil) is the
// system: Aura acting on its own.
func (p *Principal) Actor() Actor {
	if p == nil {
		return *store.SystemActor
	}
	switch p.Kind {
	case KindAdmin:
		return Actor{Kind: store.ActorAdmin, Name: "admin"}
	case KindProject:
		return Actor{Kind: store.ActorProjectToken, Name: p.TokenName}
	case KindRunner:
		return Actor{Kind: store.ActorRunner, Name: p.RunnerName}
	case KindJob:
		return Actor{Kind: store.ActorJob, Name: "job " + strconv.FormatInt(p.JobID, 10)}
	case KindUser:
		id := p.UserID
		if p.TokenID != 0 {
			// A script acting with a person's token is still that person.
			return Actor{Kind: store.ActorUserToken, Name: p.UserName, UserID: &id}
		}
		return Actor{Kind: store.ActorUser, Name: p.UserName, UserID: &id}
	}
	return Actor{Kind: p.Kind, Name: p.TokenName}
}
