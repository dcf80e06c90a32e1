package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
)

// viewer is a websocket client of GET /api/v1/events, like a browser tab.
type viewer struct {
	conn    *websocket.Conn
	pending []message // read while waiting for a subscribe's answer
}

func dialViewer(t testing.TB, s *server, token string) *viewer {
	t.Helper()
	url := "ws" + strings.TrimPrefix(s.url, "http") + "/api/v1/events"
	if token != "" {
		url += "?token=" + token
	}
	conn, resp, err := websocket.DefaultDialer.Dial(url, nil)
	require.NoError(t, err)
	resp.Body.Close()
	t.Cleanup(func() { conn.Close() })
	return &viewer{conn: conn}
}

type message struct {
	Type    string
	Topic   string
	Status  string
	JobID   int64
	Offset  int64
	Length  int64
	Data    string
	Message string
}

func (v *viewer) read(t testing.TB) message {
	t.Helper()
	if len(v.pending) > 0 {
		m := v.pending[0]
		v.pending = v.pending[1:]
		return m
	}
	return v.receive(t)
}

func (v *viewer) receive(t testing.TB) message {
	t.Helper()
	require.NoError(t, v.conn.SetReadDeadline(time.Now().Add(20*time.Second)))
	_, data, err := v.conn.ReadMessage()
	require.NoError(t, err)
	var m message
	require.NoError(t, json.Unmarshal(data, &m))
	return m
}

func (v *viewer) subscribe(t testing.TB, topic string) {
	t.Helper()
	require.NoError(t, v.conn.WriteJSON(map[string]any{"op": "subscribe", "topic": topic}))
	for {
		m := v.receive(t)
		require.NotEqual(t, "error", m.Type, m.Message)
		if m.Type == "subscribed" && m.Topic == topic {
			return
		}
		v.pending = append(v.pending, m)
	}
}

// TestLiveOnRealServers: a browser tab on one `aura serve` watches a job that a
// real runner runs through another, and the app is served with its headers.
func TestLiveOnRealServers(t *testing.T) {
	t.Parallel()
	a := startServer(t)
	b := startServerOn(t, a.dbURL)
	tok := a.project("proj")
	startRunner(t, a, "r1", "--tag", "linux")
	tab := dialViewer(t, b, "")
	tab.subscribe(t, "project:proj")
	j := b.submit(tok, map[string]any{"cmd": "echo one; sleep 0.5; echo two"})
	tab.subscribe(t, fmt.Sprintf("log:%d", j.ID))
	var log strings.Builder
	var statuses []string
	for !slices.Contains(statuses, "succeeded") || log.Len() < 8 {
		m := tab.read(t)
		switch m.Type {
		case "job":
			statuses = append(statuses, m.Status)
		case "log":
			require.EqualValues(t, log.Len(), m.Offset)
			data, err := base64.StdEncoding.DecodeString(m.Data)
			require.NoError(t, err)
			log.Write(data)
		}
	}
	require.Equal(t, "one\ntwo\n", log.String())
	require.Contains(t, statuses, "running")

	resp, err := http.Get(b.url + fmt.Sprintf("/j/%d", j.ID))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, string(body), "<title>")
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'self'")
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	resp, err = http.Get(b.url + "/api/v1/nope")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 404, resp.StatusCode)
}

// BenchmarkLiveLog: a line appended over HTTP (as the runner sends it) → the
// same bytes received by every websocket viewer of the job's log, through the
// real `aura serve`. Reports the latency quantiles over all viewers.
func BenchmarkLiveLog(b *testing.B) {
	for _, viewers := range []int{1, 100} {
		b.Run(fmt.Sprintf("viewers=%d", viewers), func(b *testing.B) { benchLive(b, viewers) })
	}
}

type arrival struct {
	end int64
	at  time.Time
}

func benchLive(b *testing.B, viewers int) {
	// Every viewer connects from loopback: one address.
	s := startServer(b, "--events-per-address", strconv.Itoa(viewers+8))
	tok := s.project("proj")
	rt := s.runnerToken("r1")
	j := s.submit(tok, nil)
	if ids := claimIDs(b, http.DefaultClient, s.url, rt, 1); len(ids) != 1 {
		b.Fatal("no job claimed")
	}
	heartbeat := func() {
		s.call("POST", fmt.Sprintf("/api/v1/jobs/%d/heartbeat", j.ID), rt, map[string]any{"attempt": 1}, nil, 200)
	}
	heartbeat()
	arrivals := make(chan arrival, viewers*4)
	for range viewers {
		v := dialViewer(b, s, "")
		v.subscribe(b, fmt.Sprintf("log:%d", j.ID))
		go func() {
			for {
				_, data, err := v.conn.ReadMessage()
				at := time.Now()
				if err != nil {
					return
				}
				var m message
				if json.Unmarshal(data, &m) == nil && m.Type == "log" {
					arrivals <- arrival{end: m.Offset + m.Length, at: at}
				}
			}
		}()
	}
	client := &http.Client{Timeout: 10 * time.Second}
	var latencies []time.Duration
	offset := 0
	i := 0
	for b.Loop() {
		if i++; i%100 == 0 {
			heartbeat() // the lease is 30 s
		}
		line := fmt.Sprintf("%s step %d: compiling backend/internal/events/hub.go ... ok\n", time.Now().Format(time.TimeOnly), i)
		req, _ := http.NewRequest("PATCH", fmt.Sprintf("%s/api/v1/jobs/%d/log?attempt=1&offset=%d", s.url, j.ID, offset), strings.NewReader(line))
		req.Header.Set("Authorization", "Bearer "+rt)
		req.Header.Set("Content-Type", "application/octet-stream")
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("append: %v %v", err, resp)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		offset += len(line)
		for got := 0; got < viewers; {
			select {
			case a := <-arrivals:
				if a.end == int64(offset) {
					latencies = append(latencies, a.at.Sub(start))
					got++
				}
			case <-time.After(10 * time.Second):
				b.Fatalf("%d of %d viewers did not get line %d", viewers-got, viewers, i)
			}
		}
	}
	slices.Sort(latencies)
	q := func(p float64) float64 {
		return float64(latencies[min(len(latencies)-1, int(float64(len(latencies))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.5), "p50_ms")
	b.ReportMetric(q(0.95), "p95_ms")
	b.ReportMetric(q(0.99), "p99_ms")
	b.ReportMetric(0, "ns/op")
}
