package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aura-ci/aura/backend/internal/event"
)

// JobTemplate is a job an integration submits for each event it acts on.
type JobTemplate struct {
	Name    string            `json:"name"`
	Cmd     string            `json:"cmd"`
	Tag     string            `json:"tag"`
	Env     map[string]string `json:"env,omitempty"`
	Secrets []string          `json:"secrets,omitempty"`
}

// Integration is an integrations row. Its webhook secret and forge access token
// stay sealed in the store: HasSecret and HasToken tell whether they are set,
// and IntegrationOpen returns them opened to the code that needs them.
type Integration struct {
	ID                  int64         `db:"id"`
	ProjectID           int64         `db:"project_id"`
	Project             string        `db:"project"`
	ProjectPrivate      bool          `db:"project_private"`
	Kind                string        `db:"kind"`
	Repository          string        `db:"repository"`
	HasSecret           bool          `db:"has_secret"`
	APIURL              string        `db:"api_url"`
	HasToken            bool          `db:"has_token"`
	Events              []string      `db:"events"`
	Jobs                []JobTemplate `db:"jobs"`
	ContextPerJob       bool          `db:"context_per_job"`
	ForkPolicy          string        `db:"fork_policy"`
	AllowPrivateNetwork bool          `db:"allow_private_network"`
	CreatedAt           time.Time     `db:"created_at"`
	LastDeliveryAt      *time.Time    `db:"last_delivery_at"`
	LastDelivery        string        `db:"last_delivery"`
	LastStatusAt        *time.Time    `db:"last_status_at"`
	LastFailureAt       *time.Time    `db:"last_failure_at"`
	LastFailure         string        `db:"last_failure"`
}

// IntegrationOpened is an integration with its webhook secret and forge access
// token opened ("" when unset), for verifying its deliveries and reporting its
// statuses.
type IntegrationOpened struct {
	Integration
	Secret string
	Token  string
	// Version names the settings read (integrationVersion): a delivery
	// handled on them may be submitted only while they hold
	// (HookSubmitParams.IntegrationVersion).
	Version string
}

// integrationVersion is a digest of the settings of integration i (of
// project p) that decide what a delivery to it does: whether it is verified,
// what it submits and where its statuses go. Its last delivery and status do
// not count: they change with every delivery.
const integrationVersion = `md5(row(i.kind, i.repository, i.secret_sealed, i.api_url, i.token_sealed, i.events,
	i.jobs, i.context_per_job, i.fork_policy, i.allow_private_network, i.project_id, p.slug, p.private,
	p.deleted_at IS NULL)::text)`

// ErrIntegrationChanged refuses a delivery handled on settings of its
// integration that changed (or went away) before its submission: nothing of
// it is written, and it is to be handled again on the current settings.
var ErrIntegrationChanged = errors.New("store: the integration changed while its delivery was handled")

const integrationSelect = `
	SELECT i.id, i.project_id, p.slug AS project, p.private AS project_private, i.kind, i.repository,
		i.secret_sealed IS NOT NULL AS has_secret, i.api_url, i.token_sealed IS NOT NULL AS has_token,
		i.events, i.jobs, i.context_per_job, i.fork_policy, i.allow_private_network, i.created_at,
		i.last_delivery_at, i.last_delivery, i.last_status_at, i.last_failure_at, i.last_failure`

const integrationFrom = `
	FROM integrations i JOIN projects p ON p.id = i.project_id`

// integrationOpenedSelect reads the sealed values too, for openIntegration.
const integrationOpenedSelect = integrationSelect + `, i.secret_sealed, i.token_sealed, ` + integrationVersion + ` AS version` +
	integrationFrom

func collectIntegration(rows pgx.Rows, what string) (*Integration, error) {
	in, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Integration])
	return in, interpret(err, what)
}

// sealedIntegration is a row of integrationOpenedSelect.
type sealedIntegration struct {
	Integration
	SecretSealed []byte `db:"secret_sealed"`
	TokenSealed  []byte `db:"token_sealed"`
	Version      string `db:"version"`
}

// collectOpened reads rows of integrationOpenedSelect and opens their sealed values.
func (s *Store) collectOpened(rows pgx.Rows, what string) ([]*IntegrationOpened, error) {
	sealed, err := pgx.CollectRows(rows, pgx.RowToStructByName[sealedIntegration])
	if err != nil {
		return nil, interpret(err, what)
	}
	out := make([]*IntegrationOpened, len(sealed))
	for i, in := range sealed {
		o := &IntegrationOpened{Integration: in.Integration, Version: in.Version}
		if o.Secret, err = s.openString(in.SecretSealed); err != nil {
			return nil, fmt.Errorf("store: open the webhook secret of integration %d: %w", in.ID, err)
		}
		if o.Token, err = s.openString(in.TokenSealed); err != nil {
			return nil, fmt.Errorf("store: open the access token of integration %d: %w", in.ID, err)
		}
		out[i] = o
	}
	return out, nil
}

// IntegrationParams are an integration's settings. On update, nil fields keep
// their value. The store seals Secret and Token.
type IntegrationParams struct {
	Kind       string
	Repository *string
	// Secret is the webhook secret; "" keeps it (on create: none).
	Secret string
	APIURL *string
	// Token is the forge access token; nil keeps it, "" removes it.
	Token               *string
	Events              []string
	Jobs                []JobTemplate
	ContextPerJob       *bool
	ForkPolicy          *string
	AllowPrivateNetwork *bool
}

// IntegrationCreate inserts an integration of a project.
func (s *Store) IntegrationCreate(ctx context.Context, projectID int64, p *IntegrationParams, a *Audit) (*Integration, error) {
	jobs, _ := json.Marshal(p.Jobs)
	const q = `
		INSERT INTO integrations (project_id, kind, repository, secret_sealed, api_url, token_sealed,
			events, jobs, context_per_job, fork_policy, allow_private_network)
		VALUES ($1, $2, $3, $4, coalesce($5::text, ''), $6, coalesce($7::text[], '{push,tag,request}'), $8::jsonb,
			coalesce($9::boolean, false), coalesce($10::text, 'approve'), coalesce($11::boolean, false))
		RETURNING id`
	var id int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, q, projectID, p.Kind, p.Repository, s.sealString(p.Secret), p.APIURL, s.sealToken(p.Token),
			p.Events, string(jobs), p.ContextPerJob, p.ForkPolicy, p.AllowPrivateNetwork).Scan(&id)
		if err != nil {
			return interpret(err, "create integration")
		}
		return a.Record(ctx, tx, "integration.create", projectID, strconv.FormatInt(id, 10), p.auditDetail())
	})
	if err != nil {
		return nil, err
	}
	return s.IntegrationGet(ctx, id)
}

// IntegrationGet returns one integration.
func (s *Store) IntegrationGet(ctx context.Context, id int64) (*Integration, error) {
	rows, _ := s.pool.Query(ctx, integrationSelect+integrationFrom+` WHERE i.id = $1`, id)
	return collectIntegration(rows, "get integration")
}

// IntegrationOpen returns one integration with its webhook secret and access
// token opened.
func (s *Store) IntegrationOpen(ctx context.Context, id int64) (*IntegrationOpened, error) {
	rows, _ := s.pool.Query(ctx, integrationOpenedSelect+` WHERE i.id = $1`, id)
	ins, err := s.collectOpened(rows, "get integration")
	if err != nil {
		return nil, err
	}
	if len(ins) == 0 {
		return nil, ErrNotFound
	}
	return ins[0], nil
}

// IntegrationList lists a project's integrations, oldest first.
func (s *Store) IntegrationList(ctx context.Context, projectID int64) ([]*Integration, error) {
	rows, _ := s.pool.Query(ctx, integrationSelect+integrationFrom+` WHERE i.project_id = $1 ORDER BY i.id`, projectID)
	ins, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[Integration])
	return ins, interpret(err, "list integrations")
}

// IntegrationsByRepository lists at most limit integrations of the given kinds
// for repository (compared without case) that have a webhook secret, opened, for
// the 0.4 webhooks, which name no integration.
func (s *Store) IntegrationsByRepository(ctx context.Context, kinds []string, repository string, limit int) ([]*IntegrationOpened, error) {
	const q = integrationOpenedSelect + `
		WHERE i.kind = ANY($1) AND lower(i.repository) = lower($2) AND i.secret_sealed IS NOT NULL
		ORDER BY i.id LIMIT $3`
	rows, _ := s.pool.Query(ctx, q, kinds, repository, limit)
	return s.collectOpened(rows, "find integrations")
}

// IntegrationUpdate changes the settings given in p.
func (s *Store) IntegrationUpdate(ctx context.Context, id int64, p *IntegrationParams, a *Audit) (*Integration, error) {
	var jobs *string
	if p.Jobs != nil {
		b, _ := json.Marshal(p.Jobs)
		js := string(b)
		jobs = &js
	}
	const q = `
		UPDATE integrations SET
			repository = coalesce($2::text, repository),
			secret_sealed = coalesce($3::bytea, secret_sealed),
			api_url = coalesce($4::text, api_url),
			token_sealed = CASE WHEN $6 THEN NULL ELSE coalesce($5::bytea, token_sealed) END,
			events = coalesce($7::text[], events),
			jobs = coalesce($8::jsonb, jobs),
			context_per_job = coalesce($9::boolean, context_per_job),
			fork_policy = coalesce($10::text, fork_policy),
			allow_private_network = coalesce($11::boolean, allow_private_network)
		WHERE id = $1
		RETURNING project_id`
	clearToken := p.Token != nil && *p.Token == ""
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var projectID int64
		err := tx.QueryRow(ctx, q, id, p.Repository, s.sealString(p.Secret), p.APIURL, s.sealToken(p.Token), clearToken,
			p.Events, jobs, p.ContextPerJob, p.ForkPolicy, p.AllowPrivateNetwork).Scan(&projectID)
		if err != nil {
			return interpret(err, "update integration")
		}
		return a.Record(ctx, tx, "integration.update", projectID, strconv.FormatInt(id, 10), p.auditDetail())
	})
	if err != nil {
		return nil, err
	}
	return s.IntegrationGet(ctx, id)
}

// IntegrationDelete deletes an integration; what it submitted stays.
func (s *Store) IntegrationDelete(ctx context.Context, id int64, a *Audit) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var projectID int64
		var kind, repository string
		err := tx.QueryRow(ctx, `DELETE FROM integrations WHERE id = $1 RETURNING project_id, kind, repository`, id).
			Scan(&projectID, &kind, &repository)
		if err != nil {
			return interpret(err, "delete integration")
		}
		return a.Record(ctx, tx, "integration.delete", projectID, strconv.FormatInt(id, 10),
			map[string]any{"kind": kind, "repository": repository})
	})
}

// auditDetail is what the audit log keeps of p: the settings it sets, never
// the webhook secret or the access token (only that they changed).
func (p *IntegrationParams) auditDetail() map[string]any {
	d := map[string]any{}
	if p.Kind != "" {
		d["kind"] = p.Kind
	}
	if p.Repository != nil {
		d["repository"] = *p.Repository
	}
	if p.Secret != "" {
		d["secret"] = "changed"
	}
	if p.APIURL != nil {
		d["apiUrl"] = *p.APIURL
	}
	switch {
	case p.Token != nil && *p.Token != "":
		d["token"] = "set"
	case p.Token != nil && p.Kind == "": // an update that clears it
		d["token"] = "removed"
	}
	if p.Events != nil {
		d["events"] = p.Events
	}
	if p.Jobs != nil {
		names := make([]string, len(p.Jobs))
		for i, j := range p.Jobs {
			names[i] = j.Name
		}
		d["jobs"] = names
	}
	if p.ContextPerJob != nil {
		d["contextPerJob"] = *p.ContextPerJob
	}
	if p.ForkPolicy != nil {
		d["forkPolicy"] = *p.ForkPolicy
	}
	if p.AllowPrivateNetwork != nil {
		d["allowPrivateNetwork"] = *p.AllowPrivateNetwork
	}
	return d
}

// qDelivered records the outcome of an integration's last webhook delivery.
const qDelivered = `
	UPDATE integrations i SET last_delivery_at = now(), last_delivery = $2
	FROM projects p WHERE i.id = $1 AND p.id = i.project_id
	RETURNING p.slug`

// IntegrationDelivered records the outcome of the last webhook delivery.
func (s *Store) IntegrationDelivered(ctx context.Context, id int64, message string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		return integrationChanged(ctx, tx, id, qDelivered, id, message)
	})
}

// Delivered is the outcome of an integration's delivery, for IntegrationsDelivered.
type Delivered struct {
	IntegrationID int64
	Project       string // the integration's project slug, for its event
	Message       string
	At            time.Time
}

// IntegrationsDelivered records the outcomes of deliveries as their
// integrations' last ones, in one statement; an outcome older than the one
// recorded (written by another server meanwhile) is left out.
func (s *Store) IntegrationsDelivered(ctx context.Context, ds []Delivered) error {
	if len(ds) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, qIntegrationsDelivered, deliveredArgs(ds)...)
	return interpret(err, "record deliveries")
}

// qIntegrationsDelivered writes deliveries' outcomes (deliveredArgs) as their
// integrations' last ones and notifies their events. Rows in id order, so that
// two writers cannot deadlock.
const qIntegrationsDelivered = `
	WITH v AS (
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::text[]) AS v(id, message, at, payload)
	), locked AS (
		SELECT i.id FROM integrations i JOIN v ON v.id = i.id ORDER BY i.id FOR NO KEY UPDATE OF i
	), delivered AS (
		UPDATE integrations i SET last_delivery_at = v.at, last_delivery = v.message
		FROM locked, v WHERE i.id = locked.id AND v.id = i.id
			AND (i.last_delivery_at IS NULL OR i.last_delivery_at <= v.at)
		RETURNING i.id
	)
	SELECT count(pg_notify($5, v.payload)) FROM delivered d JOIN v ON v.id = d.id`

// deliveredArgs are qIntegrationsDelivered's arguments for ds, one per
// integration, in id order.
func deliveredArgs(ds []Delivered) []any {
	ids, messages, ats, payloads := make([]int64, len(ds)), make([]string, len(ds)), make([]time.Time, len(ds)), make([]string, len(ds))
	for i, d := range ds {
		ids[i], messages[i], ats[i] = d.IntegrationID, d.Message, d.At
		payloads[i] = string(event.Marshal(event.Integration{IntegrationID: d.IntegrationID, Project: d.Project}))
	}
	return []any{ids, messages, ats, payloads, ChannelEvents}
}

// IntegrationStatusReported records a status sent to the forge, or (failure not
// empty) one the forge did not take. A success within statusReportedEvery of
// the last one recorded, with no failure since, changes nothing: a busy
// integration sends statuses by the hundred a second, and each write of its
// row would queue behind the deliveries' commits (and they behind it).
func (s *Store) IntegrationStatusReported(ctx context.Context, id int64, failure string) error {
	const q = `
		UPDATE integrations i SET
			last_status_at = CASE WHEN $2 = '' THEN now() ELSE i.last_status_at END,
			last_failure_at = CASE WHEN $2 = '' THEN i.last_failure_at ELSE now() END,
			last_failure = CASE WHEN $2 = '' THEN i.last_failure ELSE $2 END
		FROM projects p WHERE i.id = $1 AND p.id = i.project_id
			AND NOT ($2 = '' AND coalesce(i.last_status_at > now() - make_interval(secs => $3), false)
				AND (i.last_failure_at IS NULL OR i.last_failure_at < i.last_status_at))
		RETURNING p.slug`
	return s.inTx(ctx, func(tx pgx.Tx) error {
		return integrationChanged(ctx, tx, id, q, id, failure, statusReportedEvery.Seconds())
	})
}

// statusReportedEvery is how often at most a run of successful statuses
// updates an integration's last status.
const statusReportedEvery = time.Second

// integrationChanged runs q, an update of integration id returning its
// project's slug, and notifies the integration's event in the same transaction.
func integrationChanged(ctx context.Context, tx pgx.Tx, id int64, q string, args ...any) error {
	e := event.Integration{IntegrationID: id}
	err := tx.QueryRow(ctx, q, args...).Scan(&e.Project)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // deleted meanwhile
	}
	if err != nil {
		return interpret(err, "record integration")
	}
	var n notes
	n.event(e)
	return n.flush(ctx, tx)
}

// ProjectSecret is a project secret's name; its value leaves the store only
// opened for the jobs that get it (ProjectSecretsOpen).
type ProjectSecret struct {
	Name      string    `db:"name"`
	CreatedAt time.Time `db:"created_at"`
	UpdatedAt time.Time `db:"updated_at"`
}

// ProjectSecretList lists a project's secret names.
func (s *Store) ProjectSecretList(ctx context.Context, projectID int64) ([]*ProjectSecret, error) {
	const q = `SELECT name, created_at, updated_at FROM project_secrets WHERE project_id = $1 ORDER BY name`
	rows, _ := s.pool.Query(ctx, q, projectID)
	ps, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[ProjectSecret])
	return ps, interpret(err, "list secrets")
}

// ProjectSecretPut sets a secret, sealed; created reports whether it is new.
// The audit log records its name, never its value.
func (s *Store) ProjectSecretPut(ctx context.Context, projectID int64, name, value string, a *Audit) (secret *ProjectSecret, created bool, err error) {
	const q = `
		INSERT INTO project_secrets (project_id, name, value_sealed) VALUES ($1, $2, $3)
		ON CONFLICT (project_id, name) DO UPDATE SET value_sealed = excluded.value_sealed, updated_at = now()
		RETURNING name, created_at, updated_at, xmax = 0`
	secret = &ProjectSecret{}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, q, projectID, name, s.box.Seal([]byte(value))).Scan(&secret.Name, &secret.CreatedAt, &secret.UpdatedAt, &created)
		if err != nil {
			return interpret(err, "put secret")
		}
		return a.Record(ctx, tx, "secret.set", projectID, name, map[string]any{"created": created})
	})
	if err != nil {
		return nil, false, err
	}
	return secret, created, nil
}

// ProjectSecretDelete deletes a secret.
func (s *Store) ProjectSecretDelete(ctx context.Context, projectID int64, name string, a *Audit) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM project_secrets WHERE project_id = $1 AND name = $2`, projectID, name)
		if err != nil {
			return interpret(err, "delete secret")
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return a.Record(ctx, tx, "secret.delete", projectID, name, nil)
	})
}

// ProjectSecretsOpen returns the values, opened, of the named secrets that exist.
func (s *Store) ProjectSecretsOpen(ctx context.Context, projectID int64, names []string) (map[string]string, error) {
	const q = `SELECT name, value_sealed FROM project_secrets WHERE project_id = $1 AND name = ANY($2)`
	rows, err := s.pool.Query(ctx, q, projectID, names)
	if err != nil {
		return nil, interpret(err, "read secrets")
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name string
		var v []byte
		if err := rows.Scan(&name, &v); err != nil {
			return nil, interpret(err, "read secrets")
		}
		if out[name], err = s.openString(v); err != nil {
			return nil, fmt.Errorf("store: open project secret %s: %w", name, err)
		}
	}
	return out, interpret(rows.Err(), "read secrets")
}
