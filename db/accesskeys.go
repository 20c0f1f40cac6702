package db

import (
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"kmsconsole/model"
)

// AccessKeyRow is an access key with its secrets in clear: Secret, and
// PreviousSecret (nil when there is none) that a rotation replaced and that
// still works until PreviousSecretUntil.
type AccessKeyRow struct {
	model.AccessKey
	Secret         []byte
	PreviousSecret []byte
}

const accessKeyColumns = "access_key_id, name, status, policy, create_time, created_by, secret, secret_rotated, previous_secret, previous_until, mac"

const accessKeyRemedy = "remove the key (kmsconsole accesskey remove) and create a new one"

func accessKeyFields(k *model.AccessKey, secretBlob, previousBlob []byte) []string {
	return []string{k.AccessKeyId, k.Name, k.Status, k.Policy, strconv.FormatInt(unix(k.CreateTime), 10), k.CreatedBy,
		string(secretBlob), strconv.FormatInt(unix(k.SecretRotated), 10), string(previousBlob), strconv.FormatInt(unix(k.PreviousSecretUntil), 10)}
}

// scanAccessKey reads a row and verifies its MAC: a policy or status edited
// outside kmsconsole is refused, never used. withSecrets decrypts them.
func (t *Tx) scanAccessKey(sc interface{ Scan(...any) error }, withSecrets bool) (*AccessKeyRow, error) {
	var r AccessKeyRow
	var ct, rot, until int64
	var blob, prev, mac []byte
	if err := sc.Scan(&r.AccessKeyId, &r.Name, &r.Status, &r.Policy, &ct, &r.CreatedBy, &blob, &rot, &prev, &until, &mac); err != nil {
		return nil, err
	}
	r.CreateTime, r.SecretRotated, r.PreviousSecretUntil = fromUnix(ct), fromUnix(rot), fromUnix(until)
	ok, err := t.s.verifyMAC(mac, "accesskey", accessKeyFields(&r.AccessKey, blob, prev)...)
	if err != nil {
		return nil, fmt.Errorf("authenticate access key %s: %w", r.AccessKeyId, err)
	}
	if !ok {
		return nil, &RowAuthError{Row: "access key " + r.AccessKeyId, Remedy: accessKeyRemedy}
	}
	if !withSecrets {
		return &r, nil
	}
	if r.Secret, err = t.s.decrypt(blob, accessKeyBinding(r.AccessKeyId, false)); err != nil {
		return nil, fmt.Errorf("decrypt the secret of access key %s: %w", r.AccessKeyId, err)
	}
	if len(prev) > 0 {
		if r.PreviousSecret, err = t.s.decrypt(prev, accessKeyBinding(r.AccessKeyId, true)); err != nil {
			return nil, fmt.Errorf("decrypt the previous secret of access key %s: %w", r.AccessKeyId, err)
		}
	}
	return &r, nil
}

// AccessKey loads one access key with its secrets, by AccessKeyId or by
// name; nil when there is none.
func (t *Tx) AccessKey(idOrName string) (*AccessKeyRow, error) {
	r, err := t.scanAccessKey(t.rowPrepared("SELECT "+accessKeyColumns+" FROM access_keys WHERE access_key_id = ? OR name = ?", idOrName, idOrName), true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		var ae *RowAuthError
		if errors.As(err, &ae) {
			return nil, err
		}
		return nil, fmt.Errorf("load access key %s: %w", idOrName, err)
	}
	return r, nil
}

// AccessKeys lists access keys by name, without their secrets.
func (t *Tx) AccessKeys() ([]model.AccessKey, error) {
	rows, err := t.query("SELECT " + accessKeyColumns + " FROM access_keys ORDER BY " + t.s.b.textOrder("name"))
	if err != nil {
		return nil, fmt.Errorf("list access keys: %w", err)
	}
	defer rows.Close()
	var out []model.AccessKey
	for rows.Next() {
		r, err := t.scanAccessKey(rows, false)
		if err != nil {
			return nil, err
		}
		out = append(out, r.AccessKey)
	}
	return out, rows.Err()
}

// PutAccessKey inserts or replaces an access key, sealing its secrets and
// authenticating the row.
func (t *Tx) PutAccessKey(r *AccessKeyRow) error {
	blob, err := t.encrypt(r.Secret, accessKeyBinding(r.AccessKeyId, false))
	if err != nil {
		return err
	}
	prev := []byte{}
	if r.PreviousSecret != nil {
		if prev, err = t.encrypt(r.PreviousSecret, accessKeyBinding(r.AccessKeyId, true)); err != nil {
			return err
		}
	}
	k := &r.AccessKey
	mac, err := t.sumMAC("accesskey", accessKeyFields(k, blob, prev)...)
	if err != nil {
		return err
	}
	_, err = t.exec("INSERT INTO access_keys ("+accessKeyColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"+
		" ON CONFLICT (access_key_id) DO UPDATE SET name = excluded.name, status = excluded.status, policy = excluded.policy,"+
		" create_time = excluded.create_time, created_by = excluded.created_by, secret = excluded.secret,"+
		" secret_rotated = excluded.secret_rotated, previous_secret = excluded.previous_secret,"+
		" previous_until = excluded.previous_until, mac = excluded.mac",
		k.AccessKeyId, k.Name, k.Status, k.Policy, unix(k.CreateTime), k.CreatedBy, blob, unix(k.SecretRotated), prev, unix(k.PreviousSecretUntil),
		mac)
	if err != nil {
		return fmt.Errorf("store access key %s: %w", k.AccessKeyId, err)
	}
	return nil
}

// DeleteAccessKey removes an access key by AccessKeyId or name, without
// reading it (so a row that fails its MAC can go); it reports whether one
// was removed.
func (t *Tx) DeleteAccessKey(idOrName string) (bool, error) {
	res, err := t.exec("DELETE FROM access_keys WHERE access_key_id = ? OR name = ?", idOrName, idOrName)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}
