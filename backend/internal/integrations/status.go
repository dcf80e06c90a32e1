package integrations

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"
)

// Status is one commit status to send.
type Status struct {
	SHA         string
	Context     string
	State       string // pending, success, failure
	Description string
	TargetURL   string
}

// Forge is where statuses go: an integration's API and credentials.
type Forge struct {
	Kind                string
	APIURL              string
	Token               string
	Repository          string
	AllowPrivateNetwork bool
}

// ErrAddress means the API URL points where Aura may not send requests.
var ErrAddress = errors.New("address not allowed")

// metadata are cloud metadata services outside the link-local range.
var metadata = []netip.Addr{
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
	netip.MustParseAddr("fd00:ec2::254"),   // AWS over IPv6
}

var (
	cgnat = netip.MustParsePrefix("100.64.0.0/10")
	// Forms of IPv6 address that carry an IPv4 address, which is where such an
	// address leads: NAT64 (RFC 6052), 6to4, IPv4-compatible, SIIT's
	// IPv4-translated and Teredo's client. Checked as that IPv4 address, so
	// http://[64:ff9b::7f00:1]/ is loopback.
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour  = netip.MustParsePrefix("2002::/16")
	v4Compat   = netip.MustParsePrefix("::/96")
	translated = netip.MustParsePrefix("::ffff:0:0:0/96")
	teredo     = netip.MustParsePrefix("2001::/32")
	// Prefixes that are a local network whatever they embed: NAT64 for local
	// use (RFC 8215) and the deprecated site-local addresses.
	localV6 = []netip.Prefix{netip.MustParsePrefix("64:ff9b:1::/48"), netip.MustParsePrefix("fec0::/10")}
)

// embeddedIPv4 returns the IPv4 address an IPv6 address leads to, if it has one.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() {
		return netip.Addr{}, false
	}
	b := ip.As16()
	switch {
	case v4Compat.Contains(ip) && b[12] == 0:
		return netip.Addr{}, false // ::1 and ::, not an IPv4 address
	case nat64.Contains(ip), translated.Contains(ip), v4Compat.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	case teredo.Contains(ip):
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}), true
	}
	return netip.Addr{}, false
}

// checkAddr refuses link-local, metadata, multicast and unspecified addresses
// always, and loopback and private ones unless allowPrivate. An IPv6 address
// that embeds an IPv4 address is judged by that address too.
func checkAddr(ip netip.Addr, allowPrivate bool) error {
	ip = ip.Unmap()
	switch {
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast(),
		ip.IsMulticast(), ip.IsUnspecified(), !ip.IsValid():
		return fmt.Errorf("%w: %s is link-local, multicast or unspecified", ErrAddress, ip)
	case ip.Is4() && (ip.As4()[0] == 0 || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255})):
		return fmt.Errorf("%w: %s", ErrAddress, ip)
	}
	for _, m := range metadata {
		if ip == m {
			return fmt.Errorf("%w: %s is a cloud metadata service", ErrAddress, ip)
		}
	}
	if v4, ok := embeddedIPv4(ip); ok {
		if err := checkAddr(v4, allowPrivate); err != nil {
			return fmt.Errorf("%w (%s leads to it)", err, ip)
		}
	}
	private := ip.IsLoopback() || ip.IsPrivate() || cgnat.Contains(ip)
	for _, p := range localV6 {
		private = private || p.Contains(ip)
	}
	if !allowPrivate && private {
		return fmt.Errorf("%w: %s is a loopback or private address; allow the private network on the integration to use it", ErrAddress, ip)
	}
	return nil
}

// CheckAPIURL validates an integration's API base URL: http or https, no
// credentials in it, and a host that resolves only to addresses Aura may call.
func CheckAPIURL(ctx context.Context, raw string, allowPrivate bool) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return errors.New("apiUrl must be an http or https URL")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("apiUrl must not hold credentials, a query or a fragment")
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		return checkAddr(ip, allowPrivate)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("apiUrl host %s does not resolve", host)
	}
	for _, a := range addrs {
		if err := checkAddr(a, allowPrivate); err != nil {
			return err
		}
	}
	return nil
}

// newClient makes the HTTP client for statuses: every connection's address is
// checked when it is dialled (so DNS cannot point elsewhere later), no redirect
// is followed, and every call has a time limit.
func newClient(timeout time.Duration, allowPrivate bool) *http.Client {
	d := &net.Dialer{
		Timeout: timeout,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrAddress, address)
			}
			return checkAddr(ap.Addr(), allowPrivate)
		},
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext: d.DialContext, Proxy: nil, MaxIdleConnsPerHost: 4,
			IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: timeout,
			ResponseHeaderTimeout: timeout,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Reporter sends commit statuses to forges.
type Reporter struct {
	public, private *http.Client
}

// NewReporter returns a Reporter whose calls each take at most timeout.
func NewReporter(timeout time.Duration) *Reporter {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &Reporter{public: newClient(timeout, false), private: newClient(timeout, true)}
}

// Send posts one status to the forge.
func (r *Reporter) Send(ctx context.Context, f *Forge, s *Status) error {
	if !validSHA(s.SHA) {
		return fmt.Errorf("%s is not a commit id", s.SHA)
	}
	api, err := statusAPIOf(f.Kind)
	if err != nil {
		return err
	}
	shown := *s
	if len(shown.Description) > 140 {
		shown.Description = shown.Description[:137] + "..."
	}
	endpoint, payload, err := api.request(strings.TrimRight(f.APIURL, "/"), f.Repository, &shown)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(payload)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Aura")
	api.auth(req, f.Token)
	client := r.public
	if f.AllowPrivateNetwork {
		client = r.private
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the message already elsewhere; keep the cause
		}
		return fmt.Errorf("sending the status failed: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the forge answered %s%s", resp.Status, forgeReason(resp.Body, f.Token))
	}
	// The answer (the status the forge made) is read to its end, so that the
	// connection carries the next status rather than being closed.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return nil
}

// forgeReason is a short, clean reason from a forge's error answer, for an
// integration's last failure: the message field of its JSON (Gitea, GitHub and
// GitLab all have one), printable characters only, at most 100 bytes, without
// the access token. Anything else the forge said (pages of HTML, stack traces)
// is not kept.
func forgeReason(body io.Reader, token string) string {
	raw, _ := io.ReadAll(io.LimitReader(body, 8<<10))
	var m struct {
		Message any `json:"message"`
		Error   any `json:"error"`
	}
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	msg, _ := m.Message.(string)
	if msg == "" {
		msg, _ = m.Error.(string)
	}
	if token != "" {
		msg = strings.ReplaceAll(msg, token, "***")
	}
	msg = strings.Join(strings.FieldsFunc(msg, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }), " ")
	if len(msg) > 100 {
		cut := 97
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "..."
	}
	if msg == "" {
		return ""
	}
	return ": " + msg
}
