package api

import (
	"hash/maphash"
	"sync"
	"time"

	"kmsconsole/model"
)

// MaxSkew is how far a request's timestamp may be from the server's clock,
// either way, and so how long a nonce must be remembered.
const MaxSkew = 15 * time.Minute

// DefaultNonceCapacity bounds a NonceCache made with NewNonceCache(0). An
// entry costs about 40 bytes (see TestNonceCacheMemory), so 2^21 entries are
// some 80 MiB at most. An entry lives from its request until MaxSkew after
// the request's timestamp (plus up to a minute), so this sustains about
// 2,000 authenticated requests a second; size the cache for more.
const DefaultNonceCapacity = 1 << 21

// nonceKey is a keyed 64-bit hash of access key and nonce. Two different
// nonces collide with probability about n/2^64 per request (n remembered):
// 1e-13 for two million; a collision only refuses a request as a replay,
// which the client retries with a new nonce, and the random seed keeps
// anyone from crafting one.
type nonceKey = uint64

// NonceCache remembers the signature nonces of authenticated requests for as
// long as their timestamp is acceptable, so that a replayed request is refused
// (SignatureNonceUsed) while a request older than MaxSkew is refused by its
// timestamp (InvalidTimeStamp.Expired). Memory is bounded: entries expire
// MaxSkew after their request's timestamp, are dropped a minute at a time,
// and a full cache refuses new requests with Rejected.Throttling (429, which
// the SDKs' cache clients back off from) rather than forgetting a nonce that
// could still be replayed. Nonces are per access key, and stored as a hash,
// so a long nonce costs no more than a short one. Safe for concurrent use.
type NonceCache struct {
	mu        sync.Mutex
	capacity  int
	expiry    map[nonceKey]int64   // unix second of the last moment the entry counts
	byMinute  map[int64][]nonceKey // entries by the minute boundary at or after their expiry
	lastPrune int64                // the minute of the last prune
	seed      maphash.Seed
}

// NewNonceCache returns an empty cache holding at most capacity nonces
// (DefaultNonceCapacity when capacity <= 0).
func NewNonceCache(capacity int) *NonceCache {
	if capacity <= 0 {
		capacity = DefaultNonceCapacity
	}
	return &NonceCache{
		capacity: capacity,
		expiry:   make(map[nonceKey]int64),
		byMinute: make(map[int64][]nonceKey),
		seed:     maphash.MakeSeed(),
	}
}

// Len is the number of nonces remembered.
func (c *NonceCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.expiry)
}

func (c *NonceCache) hash(accessKeyId, nonce string) nonceKey {
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.WriteString(accessKeyId)
	h.WriteByte(0)
	h.WriteString(nonce)
	return h.Sum64()
}

// use records the nonce of a request whose timestamp is ts, or reports that
// it was seen already, or that the cache is full.
func (c *NonceCache) use(accessKeyId, nonce string, ts, now time.Time) *Error {
	k := c.hash(accessKeyId, nonce)
	exp := ts.Add(MaxSkew).Unix()
	nowSec := now.Unix()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prune(nowSec, false)
	if e, ok := c.expiry[k]; ok && e >= nowSec {
		return newError(CodeNonceUsed, 400, "Specified signature nonce was used already.")
	}
	if len(c.expiry) >= c.capacity {
		c.prune(nowSec, true)
		if len(c.expiry) >= c.capacity {
			return newError(model.CodeThrottling, 429,
				"Too many requests in the last 15 minutes: the server cannot remember more signature nonces. Retry later.")
		}
	}
	c.expiry[k] = exp
	m := (exp + 59) / 60 // dropped by the first prune after second m*60
	c.byMinute[m] = append(c.byMinute[m], k)
	return nil
}

// prune drops the entries whose expiry minute has passed; once a minute
// unless forced.
func (c *NonceCache) prune(nowSec int64, force bool) {
	minute := nowSec / 60
	if !force && minute == c.lastPrune {
		return
	}
	c.lastPrune = minute
	for m, keys := range c.byMinute {
		if m*60 >= nowSec {
			continue
		}
		for _, k := range keys {
			// A key re-used after its expiry (a fresh request that reuses
			// an expired nonce) has a later expiry: keep that one.
			if e, ok := c.expiry[k]; ok && e <= m*60 {
				delete(c.expiry, k)
			}
		}
		delete(c.byMinute, m)
	}
}
