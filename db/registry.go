package db

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"kmsconsole/model"
)

// InstanceRow is an instance with its decrypted management keys.
type InstanceRow struct {
	model.Instance
	AdminKey []byte
	// PendingAdminKey is the new admin key of a rotation that has not
	// been promoted yet (nil: none).
	PendingAdminKey []byte
}

const instanceColumns = "instance_id, name, region, host, port, admin_user, host_key, create_time, admin_key, mac, " +
	"pending_admin_key, retired_admin_key, admin_key_rotated, admin_key_period, admin_key_error, admin_key_failures, admin_key_retry"

// instanceRecord is an instance row as stored: its keys still sealed.
type instanceRecord struct {
	InstanceRow
	blob, pending, mac []byte
}

// scanInstanceRecord reads the instanceColumns of a row, checking nothing.
func scanInstanceRecord(sc interface{ Scan(...any) error }) (*instanceRecord, error) {
	var rec instanceRecord
	r := &rec.InstanceRow
	var ct, rotated, retry int64
	if err := sc.Scan(&r.InstanceId, &r.InstanceName, &r.RegionId, &r.Host, &r.Port, &r.AdminUser, &r.HostKey, &ct, &rec.blob, &rec.mac,
		&rec.pending, &r.RetiredAdminKey, &rotated, &r.AdminKeyPeriod, &r.AdminKeyError, &r.AdminKeyFailures, &retry); err != nil {
		return nil, err
	}
	r.CreateTime, r.AdminKeyRotated, r.AdminKeyRetry = fromUnix(ct), fromUnix(rotated), fromUnix(retry)
	r.AdminKeyPending = len(rec.pending) > 0
	return &rec, nil
}

// scanInstance reads an instance row and verifies its MAC: a row edited
// outside kmsconsole is refused, never used. withKey opens its keys.
func (t *Tx) scanInstance(sc interface{ Scan(...any) error }, withKey bool) (*InstanceRow, error) {
	rec, err := scanInstanceRecord(sc)
	if err != nil {
		return nil, err
	}
	r := &rec.InstanceRow
	ok, err := t.s.verifyMAC(rec.mac, "instance", instanceFields(r, rec.blob, rec.pending)...)
	if err != nil {
		return nil, fmt.Errorf("authenticate instance %s: %w", r.InstanceId, err)
	}
	if !ok {
		return nil, t.s.authError(rec.mac, "instance "+r.InstanceId, instanceRemedy)
	}
	if withKey {
		if r.AdminKey, err = t.s.decrypt(rec.blob, instanceBinding(r.InstanceId)); err != nil {
			return nil, fmt.Errorf("decrypt admin key of %s: %w", r.InstanceId, err)
		}
		if len(rec.pending) > 0 {
			if r.PendingAdminKey, err = t.s.decrypt(rec.pending, pendingAdminKeyBinding(r.InstanceId)); err != nil {
				return nil, fmt.Errorf("decrypt the pending admin key of %s: %w", r.InstanceId, err)
			}
		}
	}
	return r, nil
}

// Instance loads one instance with its admin key; nil when unknown.
func (t *Tx) Instance(id string) (*InstanceRow, error) {
	r, err := t.scanInstance(t.row("SELECT "+instanceColumns+" FROM instances WHERE instance_id = ?", id), true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		var ae *RowAuthError
		if errors.As(err, &ae) {
			return nil, err
		}
		return nil, fmt.Errorf("load instance %s: %w", id, err)
	}
	return r, nil
}

// Instances lists the instances of a region ("" = all), without keys.
func (t *Tx) Instances(region string) ([]model.Instance, error) {
	q, args := "SELECT "+instanceColumns+" FROM instances", []any{}
	if region != "" {
		q += " WHERE region = ?"
		args = append(args, region)
	}
	rows, err := t.query(q+" ORDER BY "+t.s.b.textOrder("instance_id"), args...)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	defer rows.Close()
	var out []model.Instance
	for rows.Next() {
		r, err := t.scanInstance(rows, false)
		if err != nil {
			return nil, err
		}
		out = append(out, r.Instance)
	}
	return out, rows.Err()
}

// sealInstance seals an instance's keys and computes its row MAC under the
// transaction's key.
func (t *Tx) sealInstance(r *InstanceRow) (blob, pending, mac []byte, err error) {
	if blob, err = t.encrypt(r.AdminKey, instanceBinding(r.InstanceId)); err != nil {
		return nil, nil, nil, err
	}
	pending = []byte{}
	if len(r.PendingAdminKey) > 0 {
		if pending, err = t.encrypt(r.PendingAdminKey, pendingAdminKeyBinding(r.InstanceId)); err != nil {
			return nil, nil, nil, err
		}
	}
	if mac, err = t.sumMAC("instance", instanceFields(r, blob, pending)...); err != nil {
		return nil, nil, nil, err
	}
	return blob, pending, mac, nil
}

// InsertInstance stores an instance, encrypting its admin key and
// authenticating the row.
func (t *Tx) InsertInstance(r *InstanceRow) error {
	blob, pending, mac, err := t.sealInstance(r)
	if err != nil {
		return err
	}
	_, err = t.exec("INSERT INTO instances ("+instanceColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		r.InstanceId, r.InstanceName, r.RegionId, r.Host, r.Port, r.AdminUser, r.HostKey, unix(r.CreateTime), blob, mac,
		pending, r.RetiredAdminKey, unix(r.AdminKeyRotated), r.AdminKeyPeriod, r.AdminKeyError, r.AdminKeyFailures, unix(r.AdminKeyRetry))
	if err != nil {
		return fmt.Errorf("insert instance %s: %w", r.InstanceId, err)
	}
	return nil
}

// UpdateInstanceKeys seals an instance's keys again and authenticates the
// row again, under the transaction's master key: every sealed column of an
// instance row is written here (a master key rotation moves rows with it),
// and so is the state of its admin key's rotation (the pending key, the
// retired public key, when it rotated, its period and its failures), so
// that the MAC always covers the row as written. r is the row as
// Tx.Instance loaded it, changed where the caller means to.
func (t *Tx) UpdateInstanceKeys(r *InstanceRow) error {
	blob, pending, mac, err := t.sealInstance(r)
	if err != nil {
		return err
	}
	res, err := t.exec("UPDATE instances SET admin_key = ?, pending_admin_key = ?, retired_admin_key = ?, admin_key_rotated = ?, admin_key_period = ?, "+
		"admin_key_error = ?, admin_key_failures = ?, admin_key_retry = ?, mac = ? WHERE instance_id = ?",
		blob, pending, r.RetiredAdminKey, unix(r.AdminKeyRotated), r.AdminKeyPeriod, r.AdminKeyError, r.AdminKeyFailures, unix(r.AdminKeyRetry), mac, r.InstanceId)
	if err != nil {
		return fmt.Errorf("update the keys of instance %s: %w", r.InstanceId, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("update the keys of instance %s: it no longer exists", r.InstanceId)
	}
	return nil
}

// DeleteInstance removes an instance.
func (t *Tx) DeleteInstance(id string) error {
	_, err := t.exec("DELETE FROM instances WHERE instance_id = ?", id)
	return err
}

// Operators lists operators by name.
func (t *Tx) Operators() ([]model.Operator, error) {
	rows, err := t.query("SELECT name, public_key, role, create_time FROM operators ORDER BY " + t.s.b.textOrder("name"))
	if err != nil {
		return nil, fmt.Errorf("list operators: %w", err)
	}
	defer rows.Close()
	var out []model.Operator
	for rows.Next() {
		var o model.Operator
		var ct int64
		if err := rows.Scan(&o.Name, &o.PublicKey, &o.Role, &ct); err != nil {
			return nil, err
		}
		o.CreateTime = fromUnix(ct)
		out = append(out, o)
	}
	return out, rows.Err()
}

// InsertOperator registers an operator.
func (t *Tx) InsertOperator(o model.Operator) error {
	_, err := t.exec("INSERT INTO operators (name, public_key, role, create_time) VALUES (?, ?, ?, ?)",
		o.Name, o.PublicKey, o.Role, unix(o.CreateTime))
	return err
}

// SetOperatorRole changes an operator's role; it reports whether the
// operator exists.
func (t *Tx) SetOperatorRole(name, role string) (bool, error) {
	res, err := t.exec("UPDATE operators SET role = ? WHERE name = ?", role, name)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// DeleteOperator removes an operator; it reports whether one was removed.
func (t *Tx) DeleteOperator(name string) (bool, error) {
	res, err := t.exec("DELETE FROM operators WHERE name = ?", name)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// Audit appends an event.
func (t *Tx) Audit(e model.AuditEvent) error { return t.AuditBatch([]model.AuditEvent{e}) }

// AuditBatch appends events in one statement: the group commit of the
// service's request records (one parse and one step for the whole batch).
func (t *Tx) AuditBatch(evs []model.AuditEvent) error {
	if len(evs) == 0 {
		return nil
	}
	var q strings.Builder
	q.WriteString("INSERT INTO audit (time, operator, action, target, version_id, stage, result, error_code, error, request_id, detail) VALUES ")
	args := make([]any, 0, 11*len(evs))
	for i, e := range evs {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, unix(e.Time), e.Operator, e.Action, e.Target, e.VersionId, e.Stage, e.Result, e.ErrorCode, e.Error, e.RequestId, e.Detail)
	}
	if _, err := t.exec(q.String(), args...); err != nil {
		return fmt.Errorf("write %d audit events: %w", len(evs), err)
	}
	return nil
}

// AuditEvents returns the latest events (newest first) whose fields contain
// filter (case-insensitive; "" = all).
func (t *Tx) AuditEvents(limit int, filter string) ([]model.AuditEvent, error) {
	q := "SELECT time, operator, action, target, version_id, stage, result, error_code, error, request_id, detail FROM audit"
	var args []any
	if filter != "" {
		q += " WHERE " + t.s.b.contains("lower(operator || ' ' || action || ' ' || target || ' ' || version_id || ' ' || stage || ' ' || result || ' ' || error_code || ' ' || error || ' ' || request_id || ' ' || detail)")
		args = append(args, strings.ToLower(filter))
	}
	q += " ORDER BY id DESC"
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("read audit: %w", err)
	}
	defer rows.Close()
	var out []model.AuditEvent
	for rows.Next() {
		var e model.AuditEvent
		var ts int64
		if err := rows.Scan(&ts, &e.Operator, &e.Action, &e.Target, &e.VersionId, &e.Stage, &e.Result, &e.ErrorCode, &e.Error, &e.RequestId, &e.Detail); err != nil {
			return nil, err
		}
		e.Time = fromUnix(ts)
		out = append(out, e)
	}
	return out, rows.Err()
}

// RecordRotation notes a rotation start for the hourly rate limit and
// returns how many rotations of the secret started in the last hour before it.
func (t *Tx) CountRotationsSince(secretName string, since time.Time) (int, error) {
	var n int
	err := t.row("SELECT count(*) FROM rotations WHERE secret_name = ? AND started > ?", secretName, since.Unix()).Scan(&n)
	return n, err
}

// RecordRotation notes that a rotation of the secret started.
func (t *Tx) RecordRotation(secretName string, at time.Time) error {
	if _, err := t.exec("DELETE FROM rotations WHERE started < ?", at.Add(-2*time.Hour).Unix()); err != nil {
		return err
	}
	_, err := t.exec("INSERT INTO rotations (secret_name, started) VALUES (?, ?)", secretName, at.Unix())
	return err
}

// AcquireLease takes the named lease for holder until expires, unless another
// holder has it and it has not expired. It reports whether holder has it now.
func (t *Tx) AcquireLease(name, holder string, now, expires time.Time) (bool, error) {
	res, err := t.exec(`INSERT INTO leases (name, holder, expires) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires
		WHERE leases.holder = excluded.holder OR leases.expires <= ?`,
		name, holder, expires.UnixMilli(), now.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// LeaseHolder returns who holds an unexpired lease ("" = nobody).
func (t *Tx) LeaseHolder(name string, now time.Time) (string, error) {
	var holder string
	err := t.row("SELECT holder FROM leases WHERE name = ? AND expires > ?", name, now.UnixMilli()).Scan(&holder)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return holder, err
}

// ReleaseLease gives the lease up if holder has it.
func (t *Tx) ReleaseLease(name, holder string) error {
	_, err := t.exec("DELETE FROM leases WHERE name = ? AND holder = ?", name, holder)
	return err
}

// Dump renders every row of every table except the audit log, in a fixed
// order, so tests can prove that a refused request changed nothing.
func (s *Store) Dump() (string, error) {
	var b strings.Builder
	tables := []string{"secrets", "versions", "stages", "instances", "operators", "rotations", "leases", "meta", "access_keys"}
	for _, tbl := range tables {
		rows, err := s.r.Query("SELECT * FROM " + tbl + " ORDER BY 1, 2")
		if err != nil {
			return "", err
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return "", err
			}
			for i, v := range vals {
				// One logical form on both backends: PostgreSQL's
				// booleans are SQLite's 0 and 1.
				if bv, ok := v.(bool); ok {
					vals[i] = map[bool]int64{false: 0, true: 1}[bv]
				}
			}
			fmt.Fprintf(&b, "%s %v\n", tbl, vals)
		}
		rows.Close()
	}
	return b.String(), nil
}

// Regions lists the distinct regions of secrets and instances.
func (t *Tx) Regions() ([]string, error) {
	out, err := queryStrings(t, "SELECT region FROM secrets UNION SELECT region FROM instances ORDER BY 1")
	if err != nil {
		return nil, fmt.Errorf("list regions: %w", err)
	}
	return out, nil
}
