package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/aura-ci/aura/backend/internal/integrations"
	"github.com/aura-ci/aura/backend/internal/store"
)

type notificationJSON struct {
	ID                  int64             `json:"id"`
	Kind                string            `json:"kind"`
	URL                 string            `json:"url,omitempty"`
	To                  []string          `json:"to,omitempty"`
	On                  []string          `json:"on"`
	Collections         map[string]string `json:"collections"`
	AllowPrivateNetwork bool              `json:"allowPrivateNetwork"`
	HasSecret           bool              `json:"hasSecret"`
	CreatedAt           time.Time         `json:"createdAt"`
	LastSentAt          *time.Time        `json:"lastSentAt,omitempty"`
	LastFailureAt       *time.Time        `json:"lastFailureAt,omitempty"`
	LastFailure         string            `json:"lastFailure,omitempty"`
	// Secret is a webhook rule's signing secret, only in the answer that created or regenerated it.
	Secret string `json:"secret,omitempty"`
}

func toNotification(r *store.NotificationRule) notificationJSON {
	return notificationJSON{ID: r.ID, Kind: r.Kind, URL: r.URL, To: r.To, On: r.On, Collections: r.Collections,
		AllowPrivateNetwork: r.AllowPrivateNetwork, HasSecret: r.HasSecret, CreatedAt: r.CreatedAt,
		LastSentAt: r.LastSentAt, LastFailureAt: r.LastFailureAt, LastFailure: r.LastFailure}
}

type notificationCreate struct {
	Kind                string            `json:"kind" validate:"required,oneof=webhook slack matrix discord email"`
	URL                 string            `json:"url" validate:"max=2000"`
	To                  []string          `json:"to" validate:"max=20,dive,max=300"`
	On                  []string          `json:"on" validate:"required,min=1,max=3,dive,oneof=failure fixed success"`
	Collections         map[string]string `json:"collections" validate:"max=10,dive,keys,slug,endkeys,required,max=200"`
	AllowPrivateNetwork *bool             `json:"allowPrivateNetwork"`
}

type notificationUpdate struct {
	URL                 *string           `json:"url" validate:"omitnil,max=2000"`
	To                  []string          `json:"to" validate:"omitempty,max=20,dive,max=300"`
	On                  []string          `json:"on" validate:"omitempty,min=1,max=3,dive,oneof=failure fixed success"`
	Collections         map[string]string `json:"collections" validate:"omitempty,max=10,dive,keys,slug,endkeys,required,max=200"`
	AllowPrivateNetwork *bool             `json:"allowPrivateNetwork"`
	RegenerateSecret    bool              `json:"regenerateSecret"`
}

// checkTarget says what is wrong with where a rule of kind sends: a URL for
// the webhooks, addresses for e-mail.
func checkTarget(kind string, url *string, to []string) error {
	if kind == "email" {
		if url != nil && *url != "" {
			return errorf(http.StatusBadRequest, "url", "e-mail rules send to addresses: give to, not url")
		}
		if to != nil && len(to) == 0 {
			return errorf(http.StatusBadRequest, "to", "field to must list at least one e-mail address")
		}
		for i, a := range to {
			if err := integrations.CheckAddress(a); err != nil {
				return errorf(http.StatusBadRequest, fmt.Sprintf("to[%d]", i), err.Error())
			}
		}
		return nil
	}
	if len(to) > 0 {
		return errorf(http.StatusBadRequest, "to", kind+" rules post to a URL: give url, not to")
	}
	if url != nil {
		if err := integrations.CheckNotifyURL(*url); err != nil {
			return errorf(http.StatusBadRequest, "url", err.Error())
		}
	}
	return nil
}

func (h *handler) notificationOf(r *http.Request) (*store.NotificationRule, error) {
	p := projectOf(r)
	id, err := idParam(r, "id")
	if err != nil {
		return nil, err
	}
	n, err := h.Store.NotificationGet(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if n.ProjectID != p.ID {
		return nil, store.ErrNotFound
	}
	return n, nil
}

func (h *handler) listNotifications(w http.ResponseWriter, r *http.Request) {
	rules, err := h.Store.NotificationList(r.Context(), projectOf(r).ID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listJSON[notificationJSON]{Items: mapSlice(rules, toNotification)})
}

func (h *handler) createNotification(w http.ResponseWriter, r *http.Request) {
	p := projectOf(r)
	var body notificationCreate
	if err := decode(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	if body.Kind != "email" && body.URL == "" {
		writeError(w, r, errorf(http.StatusBadRequest, "url", "field url is required for "+body.Kind+" rules"))
		return
	}
	if body.Kind == "email" && len(body.To) == 0 {
		writeError(w, r, errorf(http.StatusBadRequest, "to", "field to must list at least one e-mail address"))
		return
	}
	if err := checkTarget(body.Kind, &body.URL, body.To); err != nil {
		writeError(w, r, err)
		return
	}
	params := &store.NotificationParams{Kind: body.Kind, On: dedupe(body.On), Collections: body.Collections,
		AllowPrivateNetwork: body.AllowPrivateNetwork}
	if body.Kind == "email" {
		params.To = dedupe(body.To)
	} else {
		params.URL = &body.URL
	}
	if body.Kind == "webhook" {
		params.Secret = integrations.NewSecret()
	}
	n, err := h.Store.NotificationCreate(r.Context(), p.ID, params, audit(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := toNotification(n)
	out.Secret = params.Secret
	writeJSON(w, http.StatusCreated, out)
}

func (h *handler) updateNotification(w http.ResponseWriter, r *http.Request) {
	n, err := h.notificationOf(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var body notificationUpdate
	if err := decode(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	if n.Kind != "email" && body.URL != nil && *body.URL == "" {
		writeError(w, r, errorf(http.StatusBadRequest, "url", "field url is required for "+n.Kind+" rules"))
		return
	}
	if err := checkTarget(n.Kind, body.URL, body.To); err != nil {
		writeError(w, r, err)
		return
	}
	if body.RegenerateSecret && n.Kind != "webhook" {
		writeError(w, r, errorf(http.StatusBadRequest, "regenerateSecret", "only webhook rules sign with a secret"))
		return
	}
	params := &store.NotificationParams{URL: body.URL, To: dedupe(body.To), On: dedupe(body.On),
		Collections: body.Collections, AllowPrivateNetwork: body.AllowPrivateNetwork}
	if body.RegenerateSecret {
		params.Secret = integrations.NewSecret()
	}
	n, err = h.Store.NotificationUpdate(r.Context(), n.ID, params, audit(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := toNotification(n)
	out.Secret = params.Secret
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) deleteNotification(w http.ResponseWriter, r *http.Request) {
	n, err := h.notificationOf(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := h.Store.NotificationDelete(r.Context(), n.ID, audit(r)); err != nil {
		writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
