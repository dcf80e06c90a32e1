package integrations

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/aura-ci/aura/backend/internal/store"
)

// Notification kinds and the results a rule may be on.
var (
	NotificationKinds   = []string{"webhook", "slack", "matrix", "discord", "email"}
	NotificationResults = []string{"failure", "fixed", "success"}
)

// SignatureHeader carries a generic webhook's signature: "sha256=" and the hex
// HMAC-SHA256 of the body under the rule's secret, as GitHub and Gitea sign.
const SignatureHeader = "X-Aura-Signature-256"

// MailConfig is the SMTP server e-mail notifications go out through.
type MailConfig struct {
	Host     string
	Port     int    // 0: 587 (25 when TLS is "none")
	Username string // "": no authentication
	Password string
	From     string
	// TLS is "starttls" (the default: STARTTLS required), "opportunistic"
	// (STARTTLS when offered), "tls" (implicit TLS, port 465) or "none".
	TLS     string
	Timeout time.Duration // 0: 15 s
}

// Notice is what a notification tells: a build's result.
type Notice struct {
	Event       string              `json:"event"` // failure, fixed, success
	Project     string              `json:"project"`
	EntityKey   string              `json:"entityKey"`
	EntityValue string              `json:"entityValue"`
	Title       string              `json:"title,omitempty"`
	Result      string              `json:"result"` // success, failure
	Summary     string              `json:"summary"`
	FailedJobs  []string            `json:"failedJobs"`
	Collections map[string][]string `json:"collections"`
	URL         string              `json:"url"`
}

func (n *Notice) headline() string {
	word := map[string]string{"failure": "failed", "fixed": "is fixed", "success": "succeeded"}[n.Event]
	return fmt.Sprintf("%s: %s %s %s", n.Project, n.EntityKey, short(n.EntityValue), word)
}

func short(v string) string {
	if validSHA(v) && len(v) > 12 {
		return v[:12]
	}
	return v
}

func (n *Notice) details() string {
	var b strings.Builder
	if n.Title != "" {
		b.WriteString(n.Title + "\n")
	}
	b.WriteString(n.Summary)
	if len(n.FailedJobs) > 0 {
		b.WriteString("; not succeeded: " + strings.Join(n.FailedJobs, ", "))
	}
	return b.String()
}

// CheckNotifyURL refuses a notification URL that is not http or https, or
// holds credentials; where it leads is checked when it is dialled.
func CheckNotifyURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return errors.New("url must be an http or https URL")
	}
	if u.User != nil {
		return errors.New("url must not hold a user name or password")
	}
	return nil
}

// CheckAddress refuses what is not one plain e-mail address.
func CheckAddress(a string) error {
	p, err := mail.ParseAddress(a)
	if err != nil || p.Address != a {
		return fmt.Errorf("%q is not an e-mail address", a)
	}
	return nil
}

// payload is the body a rule of kind posts.
func payload(kind string, n *Notice) any {
	text := n.headline() + "\n" + n.details()
	switch kind {
	case "slack":
		esc := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
		return map[string]any{"text": fmt.Sprintf("<%s|%s>\n%s", n.URL, esc.Replace(n.headline()), esc.Replace(n.details()))}
	case "matrix": // matrix-hookshot's generic webhook
		return map[string]any{"username": "Aura", "text": text + "\n" + n.URL,
			"html": fmt.Sprintf(`<a href="%s">%s</a><br>%s`, html.EscapeString(n.URL), html.EscapeString(n.headline()),
				html.EscapeString(n.details()))}
	case "discord":
		content := text + "\n" + n.URL
		if r := []rune(content); len(r) > 2000 { // Discord's limit, in characters
			content = string(r[:1999]) + "…"
		}
		return map[string]any{"username": "Aura", "content": content,
			"allowed_mentions": map[string]any{"parse": []string{}}} // a commit message pings nobody
	}
	return n
}

// Sign is the signature header's value for body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Deliver sends one notice by rule; the error never holds the rule's URL.
func (s *Service) Deliver(ctx context.Context, rule *store.NotificationRule, secret, delivery string, n *Notice) error {
	if rule.Kind == "email" {
		return s.mail(ctx, rule.To, n)
	}
	if err := CheckNotifyURL(rule.URL); err != nil {
		return err
	}
	body, _ := json.Marshal(payload(rule.Kind, n))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rule.URL, bytes.NewReader(body))
	if err != nil {
		return errors.New("the URL cannot be requested")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Aura")
	if rule.Kind == "webhook" {
		req.Header.Set("X-Aura-Event", n.Event)
		req.Header.Set("X-Aura-Delivery", delivery)
		req.Header.Set(SignatureHeader, Sign(secret, body))
	}
	client := s.Reporter.public
	if rule.AllowPrivateNetwork {
		client = s.Reporter.private
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("sending the notification failed: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the receiver answered %s", resp.Status)
	}
	return nil
}

func (s *Service) mail(ctx context.Context, to []string, n *Notice) error {
	c := s.Mail
	if c == nil || c.Host == "" {
		return errors.New("no SMTP server is set (--smtp-host)")
	}
	opts := []gomail.Option{gomail.WithTimeout(orDefault(c.Timeout, 15*time.Second))}
	switch c.TLS {
	case "none":
		opts = append(opts, gomail.WithTLSPortPolicy(gomail.NoTLS))
	case "opportunistic":
		opts = append(opts, gomail.WithTLSPortPolicy(gomail.TLSOpportunistic))
	case "tls":
		opts = append(opts, gomail.WithSSLPort(false))
	default:
		opts = append(opts, gomail.WithTLSPortPolicy(gomail.TLSMandatory))
	}
	if c.Port > 0 {
		opts = append(opts, gomail.WithPort(c.Port))
	}
	if c.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(c.Username),
			gomail.WithPassword(c.Password))
	}
	client, err := gomail.NewClient(c.Host, opts...)
	if err != nil {
		return fmt.Errorf("the SMTP settings: %w", err)
	}
	m := gomail.NewMsg()
	if err := m.From(c.From); err != nil {
		return fmt.Errorf("the sender address: %w", err)
	}
	if err := m.To(to...); err != nil {
		return fmt.Errorf("the recipients: %w", err)
	}
	m.Subject("[Aura] " + n.headline())
	m.SetBodyString(gomail.TypeTextPlain, n.headline()+"\n\n"+n.details()+"\n\n"+n.URL+"\n")
	if err := client.DialAndSendWithContext(ctx, m); err != nil {
		return fmt.Errorf("sending the e-mail failed: %w", err)
	}
	return nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// entityURL is the web page of a build.
func (s *Service) entityURL(project, key, value string) string {
	return strings.TrimRight(s.BaseURL, "/") + "/p/" + url.PathEscape(project) + "/" + url.PathEscape(key) + "/" + url.PathEscape(value)
}

// matchRule says which event, if any, rule tells about a build with outcome o.
func (s *Service) matchRule(ctx context.Context, row *store.NotificationToSend, o *store.BuildOutcome) (string, error) {
	r := &row.Rule
	keys := make([]string, 0, len(r.Collections))
	for k, v := range r.Collections {
		vals := o.Collections[k]
		if len(vals) == 0 || (v != "*" && !slices.Contains(vals, v)) {
			return "", nil // not a build of the rule's collections
		}
		keys = append(keys, k)
	}
	switch o.Result {
	case "failure":
		if slices.Contains(r.On, "failure") {
			return "failure", nil
		}
		return "", nil
	case "success":
	default:
		return "", nil
	}
	if slices.Contains(r.On, "fixed") {
		// The previous build of the rule's collections (all the build's when the rule names none) failed.
		if len(keys) == 0 {
			for k := range o.Collections {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			for _, v := range o.Collections[k] {
				if v2 := r.Collections[k]; v2 != "" && v2 != "*" && v2 != v {
					continue
				}
				prev, err := s.Store.PreviousResult(ctx, r.ProjectID, row.EntityID, k, v)
				if err != nil {
					return "", err
				}
				if prev == "failure" {
					return "fixed", nil
				}
			}
		}
	}
	if slices.Contains(r.On, "success") {
		return "success", nil
	}
	return "", nil
}
