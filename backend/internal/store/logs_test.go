package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/seal"
	"github.com/aura-ci/aura/backend/internal/store"
)

// twoServers returns two stores on one database with one key, as two aura
// processes sharing a database are, and a running job with secret whose holder
// is returned.
func twoServers(t *testing.T, secret string) (a, b *store.Store, h store.Holder) {
	t.Helper()
	url := dbtest.NewURL(t)
	key := seal.NewKey()
	open := func() *store.Store {
		pool, err := pgxpool.New(context.Background(), url)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		return store.New(pool, newBox(t, key))
	}
	a, b = open(), open()
	ctx := context.Background()
	p, err := a.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	r, err := a.RunnerCreate(ctx, &store.RunnerCreateParams{Name: "r1", Tags: []string{"linux"}, Hash: []byte("hash")}, nil)
	require.NoError(t, err)
	jobs, err := a.JobSubmit(ctx, []*store.JobSubmitParams{{ProjectID: p.ID, ProjectSlug: "proj",
		EntityKey: "commit", EntityVal: "abc", JobSpec: store.JobSpec{Name: "build", Cmd: "true", Tag: "linux", MaxAttempts: 1},
		SecretEnv: map[string]string{"PASS": secret}}})
	require.NoError(t, err)
	_, err = a.JobClaim(ctx, &store.JobClaimParams{RunnerID: r.ID, Tag: "linux", Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	return a, b, store.Holder{JobID: jobs[0].ID, Attempt: 1, RunnerID: r.ID}
}

// TestLogMaskAcrossServers: the chunks of one log reach two servers sharing a
// database (a runner's uploads spread by a load balancer). Each server keeps
// its own carry-over in memory; the one whose carry went stale falls back to
// the stored tail, so a secret split across chunks stored by different servers
// is masked all the same, nothing is doubled, and the checksum holds.
func TestLogMaskAcrossServers(t *testing.T) {
	t.Parallel()
	const secret = "pa55word/with+url&chars"
	a, b, h := twoServers(t, secret)
	ctx := context.Background()
	log := "start\nfirst: " + secret + "\nsecond: " + secret + "\nthird: " + secret + "\nend\n"
	first := strings.Index(log, secret)
	second := strings.Index(log[first+1:], secret) + first + 1
	third := strings.LastIndex(log, secret)
	appendAt := func(st *store.Store, from, to int) int64 {
		t.Helper()
		res, err := st.LogAppend(ctx, &store.LogAppendParams{Holder: h, Offset: int64(from), Data: []byte(log[from:to])})
		require.NoError(t, err)
		return res.Length
	}
	cut := second - 3         // in "second: ", before the second secret
	appendAt(a, 0, first+4)   // a: "...first: pa55"
	appendAt(a, first+4, cut) // a again: the first secret straddles its two chunks
	require.EqualValues(t, cut, a.LogCarryLength(h.JobID, 1))
	appendAt(b, cut, second+3)       // b has no carry: it takes the locked path
	appendAt(b, second+3, second+10) // b again, from its carry
	require.EqualValues(t, second+10, b.LogCarryLength(h.JobID, 1))
	require.EqualValues(t, cut, a.LogCarryLength(h.JobID, 1), "a does not know")
	// a's carry says the log ends where a stopped, and the runner resends from
	// there (a retry after a lost answer), past what b stored. The database
	// refuses the stale carry, and a appends only the new bytes, masking the
	// second secret begun in what b stored.
	require.EqualValues(t, third+6, appendAt(a, cut, third+6))
	require.EqualValues(t, len(log), appendAt(b, third+6, len(log)))

	info, err := a.LogInfoGet(ctx, h.JobID, 0)
	require.NoError(t, err)
	require.EqualValues(t, len(log), info.Length)
	var stored strings.Builder
	require.NoError(t, a.LogCopy(ctx, &stored, &store.LogReadParams{JobID: h.JobID, Attempt: info.Attempt, End: info.Length}))
	got := stored.String()
	require.Len(t, got, len(log), "masking keeps offsets")
	for _, leak := range []string{secret, secret[:4], secret[len(secret)-4:], "word/"} {
		require.NotContains(t, got, leak)
	}
	require.Equal(t, strings.ReplaceAll(log, secret, strings.Repeat("*", len(secret))), got)

	sum := sha256.Sum256([]byte(log))
	sha, n := hex.EncodeToString(sum[:]), int64(len(log))
	_, err = b.JobComplete(ctx, &store.JobCompleteParams{Holder: h, ExitCode: 0, LogLength: &n, LogSHA256: &sha})
	require.NoError(t, err)
	j, err := a.JobGet(ctx, h.JobID)
	require.NoError(t, err)
	require.False(t, j.LogMismatch, "the checksum of the bytes as received holds across servers")
}

// TestLogMaskLargeChunks: chunks of several rows take the carried path, which
// looks each row over just before sending it. A secret in a later row, one
// straddling two rows, one at the very end and one split across two chunks are
// all masked; offsets, the stored bytes and the checksum of the bytes as
// received hold.
func TestLogMaskLargeChunks(t *testing.T) {
	t.Parallel()
	const secret = "pa55word/with+url&chars"
	a, _, h := twoServers(t, secret)
	ctx := context.Background()
	const row = 256 << 10 // the rows a chunk is stored in
	line := []byte("compiling backend/internal/store/jobs.go ... ok\n")
	log := bytes.Repeat(line, 3*(4*row+1000)/len(line))
	put := func(at int) { copy(log[at:], secret) }
	c1, c2, c3 := 1000, 1000+4*row+1000, 2*(4*row+1000)
	put(c1 + 2*row - 5)             // the second chunk's first: straddling its second and third rows
	put(c2 - len(secret))           // ending the second chunk
	put(c2 + row + 1000)            // in the second row of the third chunk
	put(c3 - 7)                     // split across the third and fourth chunks
	put(c3 + 3*row + len(secret)*3) // in the last row of the fourth chunk
	cuts := []int{0, c1, c2, c3, len(log)}
	for i := range len(cuts) - 1 {
		res, err := a.LogAppend(ctx, &store.LogAppendParams{Holder: h, Offset: int64(cuts[i]), Data: bytes.Clone(log[cuts[i]:cuts[i+1]])})
		require.NoError(t, err)
		require.EqualValues(t, cuts[i+1], res.Length)
		if i > 0 && i < len(cuts)-2 {
			require.EqualValues(t, cuts[i+1], a.LogCarryLength(h.JobID, 1), "the carried path")
		}
	}
	var stored bytes.Buffer
	require.NoError(t, a.LogCopy(ctx, &stored, &store.LogReadParams{JobID: h.JobID, Attempt: 1, End: int64(len(log))}))
	want := bytes.ReplaceAll(log, []byte(secret), bytes.Repeat([]byte("*"), len(secret)))
	require.Equal(t, len(log), stored.Len(), "masking keeps offsets")
	require.True(t, bytes.Equal(want, stored.Bytes()), "every secret masked, nothing else")
	sum := sha256.Sum256(log)
	sha, n := hex.EncodeToString(sum[:]), int64(len(log))
	_, err := a.JobComplete(ctx, &store.JobCompleteParams{Holder: h, ExitCode: 0, LogLength: &n, LogSHA256: &sha})
	require.NoError(t, err)
	j, err := a.JobGet(ctx, h.JobID)
	require.NoError(t, err)
	require.False(t, j.LogMismatch, "the checksum is of the bytes as received")
}

// failingReader gives its bytes, then fails.
type failingReader struct{ data []byte }

func (r *failingReader) Read(b []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(b, r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestLogBodyStreamed: a chunk whose body is read as it is stored (a request
// body of known length) is stored as one read whole would be; one whose body
// fails after some rows went to the database stores nothing of it, so the
// runner's retry of the same offset is stored whole, once.
func TestLogBodyStreamed(t *testing.T) {
	t.Parallel()
	const secret = "pa55word/with+url&chars"
	a, _, h := twoServers(t, secret)
	ctx := context.Background()
	line := []byte("compiling backend/internal/store/jobs.go ... ok\n")
	log := bytes.Repeat(line, (1000+2*(3<<20))/len(line))
	copy(log[1000+(1<<20):], secret)   // in the second chunk's fifth row
	copy(log[1000+(3<<20)-4:], secret) // split across the second and third chunks
	stream := func(from, to int, body io.Reader) (*store.LogAppendResult, error) {
		return a.LogAppend(ctx, &store.LogAppendParams{Holder: h, Offset: int64(from), Body: body, Size: int64(to - from)})
	}
	res, err := stream(0, 1000, bytes.NewReader(log[:1000]))
	require.NoError(t, err)
	require.EqualValues(t, 1000, res.Length)
	// The second chunk's body fails two and a half rows in: nothing is stored.
	_, err = stream(1000, 1000+3<<20, &failingReader{data: bytes.Clone(log[1000 : 1000+640<<10])})
	var bodyErr *store.BodyError
	require.ErrorAs(t, err, &bodyErr)
	info, err := a.LogInfoGet(ctx, h.JobID, 0)
	require.NoError(t, err)
	require.EqualValues(t, 1000, info.Length, "nothing of a failed body")
	for _, cut := range [][2]int{{1000, 1000 + 3<<20}, {1000 + 3<<20, len(log)}} {
		res, err := stream(cut[0], cut[1], bytes.NewReader(log[cut[0]:cut[1]]))
		require.NoError(t, err)
		require.EqualValues(t, cut[1], res.Length)
	}
	var stored bytes.Buffer
	require.NoError(t, a.LogCopy(ctx, &stored, &store.LogReadParams{JobID: h.JobID, Attempt: 1, End: int64(len(log))}))
	want := bytes.ReplaceAll(log, []byte(secret), bytes.Repeat([]byte("*"), len(secret)))
	require.Equal(t, len(log), stored.Len())
	require.True(t, bytes.Equal(want, stored.Bytes()), "stored once, masked")
	sum := sha256.Sum256(log)
	sha, n := hex.EncodeToString(sum[:]), int64(len(log))
	_, err = a.JobComplete(ctx, &store.JobCompleteParams{Holder: h, ExitCode: 0, LogLength: &n, LogSHA256: &sha})
	require.NoError(t, err)
	j, err := a.JobGet(ctx, h.JobID)
	require.NoError(t, err)
	require.False(t, j.LogMismatch)
}
