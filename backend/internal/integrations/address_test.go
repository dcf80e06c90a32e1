package integrations

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCheckAddrEmbeddedIPv4: an IPv6 address that leads to an IPv4 address is
// judged as that address, at creation and when dialling alike.
func TestCheckAddrEmbeddedIPv4(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		addr            string
		public, allowed bool // refused or not without and with allowPrivateNetwork
	}{
		{"64:ff9b::7f00:1", false, true},                      // NAT64 of 127.0.0.1
		{"64:ff9b::a00:1", false, true},                       // NAT64 of 10.0.0.1
		{"64:ff9b::a9fe:a9fe", false, false},                  // NAT64 of 169.254.169.254
		{"64:ff9b::808:808", true, true},                      // NAT64 of 8.8.8.8: a real IPv6-only network
		{"64:ff9b:1::7f00:1", false, true},                    // local-use NAT64
		{"::ffff:127.0.0.1", false, true},                     // IPv4-mapped
		{"::ffff:0:127.0.0.1", false, true},                   // IPv4-translated
		{"::127.0.0.1", false, true},                          // IPv4-compatible
		{"2002:7f00:1::1", false, true},                       // 6to4 of 127.0.0.1
		{"2002:a9fe:a9fe::1", false, false},                   // 6to4 of the metadata service
		{"2002:808:808::1", true, true},                       // 6to4 of a public address
		{"2001:0:4136:e378:8000:63bf:80ff:fffe", false, true}, // Teredo, client 127.0.0.1
		{"fec0::1", false, true},                              // site-local
		{"::1", false, true},
		{"2606:4700::1111", true, true},
	} {
		ip := netip.MustParseAddr(c.addr)
		require.Equal(t, c.public, checkAddr(ip, false) == nil, "%s without the private network", c.addr)
		require.Equal(t, c.allowed, checkAddr(ip, true) == nil, "%s with the private network", c.addr)
	}
}

// TestDialRefusesNAT64Loopback: the dial-time guard refuses the NAT64 form of
// loopback before a packet is sent, whatever the URL was checked against.
func TestDialRefusesNAT64Loopback(t *testing.T) {
	t.Parallel()
	req, err := http.NewRequestWithContext(context.Background(), "GET", "http://[64:ff9b::7f00:1]:8080/api/v1", nil)
	require.NoError(t, err)
	_, err = newClient(time.Second, false).Do(req)
	require.True(t, errors.Is(err, ErrAddress), "%v", err)
	require.Error(t, CheckAPIURL(context.Background(), "http://[64:ff9b::7f00:1]/", false))
}
