package service

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"
	"time"

	"kmsconsole/api"
	"kmsconsole/db"
	"kmsconsole/model"
)

// Access keys (SPEC §7) are the API's application identities. Operators
// manage them (admin role); the secret is handed out once, at creation or
// rotation, and is otherwise only read by the API's authentication.

// DefaultAccessKeyGrace is how long a rotated access key's old secret
// keeps working, so that applications can be redeployed with the new one.
const DefaultAccessKeyGrace = 24 * time.Hour

// MaxAccessKeyGrace bounds --grace: an old secret must die eventually.
const MaxAccessKeyGrace = 30 * 24 * time.Hour

// AccessKeySecretResponse is the answer of CreateAccessKey and
// RotateAccessKey: the only time the secret is shown.
type AccessKeySecretResponse struct {
	RequestId       string
	AccessKeyId     string
	AccessKeyName   string
	AccessKeySecret string
	// PreviousSecretValidUntil: when the replaced secret stops working
	// (rotation only).
	PreviousSecretValidUntil string `json:",omitempty"`
}

// AccessKeyInfo is an access key as listed: never its secret.
type AccessKeyInfo struct {
	AccessKeyId              string
	AccessKeyName            string
	Status                   string
	Policy                   string
	CreateTime               string
	CreatedBy                string
	SecretRotated            string
	PreviousSecretValidUntil string `json:",omitempty"`
}

func accessKeyInfo(k model.AccessKey, now time.Time) AccessKeyInfo {
	out := AccessKeyInfo{AccessKeyId: k.AccessKeyId, AccessKeyName: k.Name, Status: k.Status, Policy: k.Policy,
		CreateTime: model.FormatTime(k.CreateTime), CreatedBy: k.CreatedBy, SecretRotated: model.FormatTime(k.SecretRotated)}
	if !k.PreviousSecretUntil.IsZero() && now.Before(k.PreviousSecretUntil) {
		out.PreviousSecretValidUntil = model.FormatTime(k.PreviousSecretUntil)
	}
	return out
}

// randomAlnum draws n letters and digits with model.RandomPassword (uniform,
// from crypto/rand): no punctuation, so ids and secrets paste anywhere.
func randomAlnum(n int) string {
	p, err := model.RandomPassword(model.PasswordOptions{Length: n, ExcludePunctuation: true})
	if err != nil {
		panic(fmt.Sprintf("random access key material: %v", err)) // n is a constant in 8..128
	}
	return p
}

func newAccessKeyId() string { return model.AccessKeyIdPrefix + randomAlnum(20) }

// newAccessKeySecret is 30 characters (178 bits), the cloud's length.
func newAccessKeySecret() string { return randomAlnum(30) }

// parseAccessKeyPolicy validates a policy document and returns it compact.
func parseAccessKeyPolicy(doc string) (string, error) {
	p, err := api.ParsePolicy([]byte(doc))
	if err != nil {
		return "", err // already InvalidParameter naming Policy
	}
	b, err := p.MarshalJSON()
	if err != nil {
		return "", model.InvalidParam("Policy", "%v", err)
	}
	return string(b), nil
}

// CreateAccessKey makes an access key named name with policy doc (RAM
// policy JSON) and returns its secret, which is never shown again.
func (s *Service) CreateAccessKey(ctx context.Context, name, policyDoc string) (*AccessKeySecretResponse, error) {
	defer s.run.keys.invalidate()
	var resp *AccessKeySecretResponse
	err := s.handle(ctx, op{action: "CreateAccessKey", target: name, perm: permAdmin, what: "create access keys", audit: true}, func(r *request) error {
		if err := model.ValidateAccessKeyName(name); err != nil {
			return err
		}
		policy, err := parseAccessKeyPolicy(policyDoc)
		if err != nil {
			return err
		}
		now := s.now()
		row := &db.AccessKeyRow{AccessKey: model.AccessKey{AccessKeyId: newAccessKeyId(), Name: name, Status: model.AccessKeyEnabled,
			Policy: policy, CreateTime: now, CreatedBy: s.Actor().Name, SecretRotated: now}, Secret: []byte(newAccessKeySecret())}
		r.note("AccessKeyId " + row.AccessKeyId)
		err = r.write(ctx, func(tx *db.Tx) error {
			if k, err := tx.AccessKey(name); err != nil {
				return err
			} else if k != nil {
				return model.Errorf(model.CodeResourceExist, "The access key %s already exists (%s)", name, k.AccessKeyId)
			}
			return tx.PutAccessKey(row)
		})
		if err != nil {
			return err
		}
		resp = &AccessKeySecretResponse{RequestId: r.ID, AccessKeyId: row.AccessKeyId, AccessKeyName: name, AccessKeySecret: string(row.Secret)}
		return nil
	})
	return resp, err
}

// AccessKeys lists the access keys (admin: they reveal what apps may read).
func (s *Service) AccessKeys(ctx context.Context) ([]AccessKeyInfo, error) {
	var out []AccessKeyInfo
	err := s.handle(ctx, op{action: "ListAccessKeys", perm: permAdmin, what: "list access keys"}, func(r *request) error {
		return s.store.Read(ctx, func(tx *db.Tx) error {
			keys, err := tx.AccessKeys()
			if err != nil {
				return err
			}
			now := s.now()
			out = make([]AccessKeyInfo, 0, len(keys))
			for _, k := range keys {
				out = append(out, accessKeyInfo(k, now))
			}
			return nil
		})
	})
	return out, err
}

// changeAccessKey loads the key named (by id or name), lets change edit it,
// and stores it, on the request path as action.
func (s *Service) changeAccessKey(ctx context.Context, action, idOrName, what string, change func(r *request, k *db.AccessKeyRow) error) error {
	defer s.run.keys.invalidate()
	return s.handle(ctx, op{action: action, target: idOrName, perm: permAdmin, what: what, audit: true}, func(r *request) error {
		return r.write(ctx, func(tx *db.Tx) error {
			k, err := tx.AccessKey(idOrName)
			if err != nil {
				return err
			}
			if k == nil {
				return model.NotFound("The access key %s does not exist", idOrName)
			}
			r.ev.Target = k.Name
			r.note("AccessKeyId " + k.AccessKeyId)
			if err := change(r, k); err != nil {
				return err
			}
			return tx.PutAccessKey(k)
		})
	})
}

// SetAccessKeyStatus enables or disables an access key. A disabled key's
// requests are refused with Forbidden.AccessKeyDisabled at once.
func (s *Service) SetAccessKeyStatus(ctx context.Context, idOrName string, enabled bool) error {
	action, status := "DisableAccessKey", model.AccessKeyDisabled
	if enabled {
		action, status = "EnableAccessKey", model.AccessKeyEnabled
	}
	return s.changeAccessKey(ctx, action, idOrName, "change access keys", func(r *request, k *db.AccessKeyRow) error {
		k.Status = status
		return nil
	})
}

// SetAccessKeyPolicy replaces an access key's policy.
func (s *Service) SetAccessKeyPolicy(ctx context.Context, idOrName, policyDoc string) error {
	policy, perr := parseAccessKeyPolicy(policyDoc)
	return s.changeAccessKey(ctx, "SetAccessKeyPolicy", idOrName, "change access keys", func(r *request, k *db.AccessKeyRow) error {
		if perr != nil {
			return perr
		}
		k.Policy = policy
		return nil
	})
}

// RotateAccessKey gives an access key a new secret. The old one keeps
// working for grace (DefaultAccessKeyGrace when 0; a negative grace ends
// it at once), so applications can move over; a secret older than that is
// dropped.
func (s *Service) RotateAccessKey(ctx context.Context, idOrName string, grace time.Duration) (*AccessKeySecretResponse, error) {
	if grace == 0 {
		grace = DefaultAccessKeyGrace
	}
	var resp *AccessKeySecretResponse
	err := s.changeAccessKey(ctx, "RotateAccessKey", idOrName, "rotate access keys", func(r *request, k *db.AccessKeyRow) error {
		if grace > MaxAccessKeyGrace {
			return model.InvalidParam("Grace", "at most %s, got %s", MaxAccessKeyGrace, grace)
		}
		now := s.now()
		k.PreviousSecret, k.PreviousSecretUntil = nil, time.Time{}
		if grace > 0 {
			k.PreviousSecret, k.PreviousSecretUntil = k.Secret, now.Add(grace)
		}
		k.Secret, k.SecretRotated = []byte(newAccessKeySecret()), now
		resp = &AccessKeySecretResponse{RequestId: r.ID, AccessKeyId: k.AccessKeyId, AccessKeyName: k.Name, AccessKeySecret: string(k.Secret)}
		if grace > 0 {
			resp.PreviousSecretValidUntil = model.FormatTime(k.PreviousSecretUntil)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// RemoveAccessKey deletes an access key: its requests fail at once with
// InvalidAccessKeyId.NotFound.
func (s *Service) RemoveAccessKey(ctx context.Context, idOrName string) error {
	defer s.run.keys.invalidate()
	return s.handle(ctx, op{action: "RemoveAccessKey", target: idOrName, perm: permAdmin, what: "remove access keys", audit: true}, func(r *request) error {
		return r.write(ctx, func(tx *db.Tx) error {
			// A row that fails its MAC is removed all the same: removing
			// is how the operator recovers from it.
			k, err := tx.AccessKey(idOrName)
			if err != nil && !errors.Is(err, db.ErrRowAuth) {
				return err
			}
			if k != nil {
				r.ev.Target = k.Name
				r.note("AccessKeyId " + k.AccessKeyId)
			}
			ok, err := tx.DeleteAccessKey(idOrName)
			if err != nil {
				return err
			}
			if !ok {
				return model.NotFound("The access key %s does not exist", idOrName)
			}
			return nil
		})
	})
}

// AccessKeyCredentials is what the API's authentication needs of a key:
// the secrets it accepts now (newest first), whether it is enabled, its
// name and its policy.
type AccessKeyCredentials struct {
	Name    string
	Secrets [][]byte
	Enabled bool
	Policy  *api.Policy
	// previousUntil: when the second secret stops working.
	previousUntil time.Time
}

// AccessKeyForAuth looks an access key up by AccessKeyId for request
// authentication; nil when there is none. It is not audited itself: the
// request it authenticates is.
func (s *Service) AccessKeyForAuth(ctx context.Context, accessKeyId string) (*AccessKeyCredentials, error) {
	if !model.LooksLikeAccessKeyId(accessKeyId) {
		return nil, nil
	}
	now := time.Now()
	if c, ok := s.run.keys.get(accessKeyId, now, s.now()); ok {
		return c, nil
	}
	gen := s.run.keys.generation()
	c, err := s.loadAccessKeyForAuth(ctx, accessKeyId)
	if err == nil {
		s.run.keys.put(accessKeyId, c, gen, now)
	}
	return c, err
}

// accessKeyCache keeps the API's key lookups (secrets, status, parsed
// policy) for accessKeyCacheTTL, so that a request does not pay a read
// transaction and a policy parse before its action. A change made in this
// process (disable, remove, rotate, new policy) empties it at once; one
// made by another process (the CLI on the same store) is seen within the
// TTL.
type accessKeyCache struct {
	mu      sync.Mutex
	gen     uint64
	entries map[string]accessKeyEntry
}

type accessKeyEntry struct {
	creds   *AccessKeyCredentials // nil: no such key
	gen     uint64
	fetched time.Time
}

// accessKeyCacheTTL bounds how long another process's change to a key
// takes to apply here.
const accessKeyCacheTTL = time.Second

// get returns a fresh entry: now is the wall clock (for the TTL), clock
// the service's (for the grace period, as the store's times are).
func (c *accessKeyCache) get(id string, now, clock time.Time) (*AccessKeyCredentials, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if !ok || e.gen != c.gen || now.Sub(e.fetched) >= accessKeyCacheTTL || now.Before(e.fetched) {
		return nil, false
	}
	if e.creds != nil && len(e.creds.Secrets) > 1 && !clock.Before(e.creds.previousUntil) {
		return nil, false // the grace period ended: look again
	}
	return e.creds, true
}

func (c *accessKeyCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *accessKeyCache) put(id string, creds *AccessKeyCredentials, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return // a change happened while this was read: it may be stale
	}
	if c.entries == nil || len(c.entries) > 10000 {
		c.entries = map[string]accessKeyEntry{}
	}
	c.entries[id] = accessKeyEntry{creds: creds, gen: gen, fetched: now}
}

// invalidate forgets every lookup: a key changed in this process.
func (c *accessKeyCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.entries = nil
}

func (s *Service) loadAccessKeyForAuth(ctx context.Context, accessKeyId string) (*AccessKeyCredentials, error) {
	var out *AccessKeyCredentials
	err := s.store.Read(ctx, func(tx *db.Tx) error {
		k, err := tx.AccessKey(accessKeyId)
		if err != nil || k == nil || k.AccessKeyId != accessKeyId {
			return err
		}
		p, err := api.ParsePolicy([]byte(k.Policy))
		if err != nil {
			return fmt.Errorf("access key %s: stored policy: %w", accessKeyId, err)
		}
		out = &AccessKeyCredentials{Name: k.Name, Enabled: k.Status == model.AccessKeyEnabled, Policy: p, Secrets: [][]byte{k.Secret}}
		if k.PreviousSecret != nil && s.now().Before(k.PreviousSecretUntil) {
			out.Secrets = append(out.Secrets, k.PreviousSecret)
			out.previousUntil = k.PreviousSecretUntil
		}
		return nil
	})
	return out, err
}

// RecordAPIRefusal puts on record an API request refused before it reached
// an action (bad signature, unknown or disabled key, replayed nonce,
// throttled): actor is "accesskey:NAME" or the id the request claimed,
// message never holds a parameter value (api.Error.AuditText). It goes
// through the request path's record (sanitised, the request id from ctx)
// and group commit, so a flood of refused requests shares transactions.
func (s *Service) RecordAPIRefusal(ctx context.Context, actor, action, code, message string) {
	r := &request{s: s, ID: requestIdFrom(ctx)}
	r.ev = model.AuditEvent{Operator: actor, Action: action, ErrorCode: code, Error: message,
		RequestId: r.ID, Detail: "API request refused"}
	if err := s.run.audit.record(ctx, s.store, r.record("Failure")); err != nil {
		// The request is refused anyway; losing its record is logged.
		log.Printf("audit: could not record a refused API request: %v", err)
	}
}
