package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"kmsconsole/model"
)

// SecretRow is a secret with its row id, which versions and stages refer to.
type SecretRow struct {
	ID int64
	model.Secret
	InstanceId string
	NextRetry  time.Time // when the scheduler may retry a failed rotation

	// scanned columns, before finishSecret converts them
	typ  string
	unix struct{ create, update, last, retry, planned, anchor, due int64 }
}

const secretColumns = `id, name, type, description, region, data_type, extended_config, instance_id,
	create_time, update_time, automatic_rotation, rotation_interval, last_rotation,
	rotation_error, rotation_failures, next_retry, planned_delete, auto_wanted,
	rotation_schedule, rotation_window, rotation_anchor`

func scanSecret(sc interface{ Scan(...any) error }) (*SecretRow, error) {
	var r SecretRow
	if err := sc.Scan(secretScanDest(&r)...); err != nil {
		return nil, err
	}
	finishSecret(&r)
	return &r, nil
}

// secretScanDest are the scan targets of secretColumns, in order; the
// times land in r's Unix fields until finishSecret turns them into times.
func secretScanDest(r *SecretRow) []any {
	return []any{&r.ID, &r.Name, &r.typ, &r.Description, &r.RegionId, &r.DataType, &r.ExtendedConfig,
		&r.InstanceId, &r.unix.create, &r.unix.update, &r.AutomaticRotation, &r.RotationInterval, &r.unix.last,
		&r.RotationError, &r.RotationFailures, &r.unix.retry, &r.unix.planned, &r.AutoWanted,
		&r.RotationSchedule, &r.RotationWindow, &r.unix.anchor}
}

// finishSecret fills the typed fields of a row scanned by secretScanDest.
func finishSecret(r *SecretRow) {
	r.Type = model.SecretType(r.typ)
	r.CreateTime, r.UpdateTime, r.LastRotationDate = fromUnix(r.unix.create), fromUnix(r.unix.update), fromUnix(r.unix.last)
	r.NextRetry, r.PlannedDeleteTime = fromUnix(r.unix.retry), fromUnix(r.unix.planned)
	r.RotationAnchor = fromUnix(r.unix.anchor)
	r.NextRotationDate = r.NextRotation()
}

// SecretByName returns the secret, or nil when there is none.
func (t *Tx) SecretByName(name string) (*SecretRow, error) {
	r, err := scanSecret(t.rowPrepared("SELECT "+secretColumns+" FROM secrets WHERE name = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load secret %s: %w", name, err)
	}
	return r, nil
}

// InsertSecret adds a secret and returns its row id.
func (t *Tx) InsertSecret(r *SecretRow) (int64, error) {
	var id int64
	err := t.row(`INSERT INTO secrets (name, type, description, region, data_type, extended_config,
		instance_id, create_time, update_time, automatic_rotation, rotation_interval, last_rotation, auto_wanted,
		rotation_schedule, rotation_window, rotation_anchor, rotation_due)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		r.Name, string(r.Type), r.Description, r.RegionId, r.DataType, r.ExtendedConfig, r.InstanceId,
		unix(r.CreateTime), unix(r.UpdateTime), r.AutomaticRotation, r.RotationInterval, unix(r.LastRotationDate), r.AutoWanted,
		r.RotationSchedule, r.RotationWindow, unix(r.RotationAnchor), unix(r.DueFrom(r.NextRetry))).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("insert secret %s: %w", r.Name, err)
	}
	return id, nil
}

// UpdateSecret writes every mutable field of the secret.
func (t *Tx) UpdateSecret(r *SecretRow) error {
	_, err := t.exec(`UPDATE secrets SET description = ?, extended_config = ?, update_time = ?,
		automatic_rotation = ?, rotation_interval = ?, last_rotation = ?, rotation_error = ?,
		rotation_failures = ?, next_retry = ?, planned_delete = ?, auto_wanted = ?,
		rotation_schedule = ?, rotation_window = ?, rotation_anchor = ?, rotation_due = ? WHERE id = ?`,
		r.Description, r.ExtendedConfig, unix(r.UpdateTime), r.AutomaticRotation, r.RotationInterval,
		unix(r.LastRotationDate), r.RotationError, r.RotationFailures, unix(r.NextRetry),
		unix(r.PlannedDeleteTime), r.AutoWanted, r.RotationSchedule, r.RotationWindow, unix(r.RotationAnchor), unix(r.DueFrom(r.NextRetry)), r.ID)
	if err != nil {
		return fmt.Errorf("update secret %s: %w", r.Name, err)
	}
	return nil
}

// DeleteSecret removes the secret with all its versions and labels.
func (t *Tx) DeleteSecret(id int64) error {
	if _, err := t.exec("DELETE FROM secrets WHERE id = ?", id); err != nil {
		return fmt.Errorf("delete secret: %w", err)
	}
	return nil
}

// SecretFilter selects secrets for listing. Empty fields match everything;
// each non-empty list matches any of its values as a substring.
type SecretFilter struct {
	Region       string
	Names        []string
	Descriptions []string
	Types        []string
	Limit        int // 0 = no limit
	Offset       int
}

// ListSecrets returns one page of matching secrets, ordered by name, and the
// total number that match.
func (t *Tx) ListSecrets(f SecretFilter) ([]*SecretRow, int, error) {
	var where []string
	var args []any
	if f.Region != "" {
		where = append(where, "region = ?")
		args = append(args, f.Region)
	}
	anyOf := func(col string, values []string, exact bool) {
		if len(values) == 0 {
			return
		}
		var ors []string
		for _, v := range values {
			if exact {
				ors = append(ors, col+" = ?")
				args = append(args, v)
			} else {
				ors = append(ors, t.s.b.contains(col))
				args = append(args, v)
			}
		}
		where = append(where, "("+strings.Join(ors, " OR ")+")")
	}
	anyOf("name", f.Names, false)
	anyOf("description", f.Descriptions, false)
	anyOf("type", f.Types, true)
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := t.row("SELECT count(*) FROM secrets"+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count secrets: %w", err)
	}
	q := "SELECT " + secretColumns + " FROM secrets" + cond + " ORDER BY " + t.s.b.textOrder("name")
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d OFFSET %d", f.Limit, f.Offset)
	}
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list secrets: %w", err)
	}
	defer rows.Close()
	var out []*SecretRow
	for rows.Next() {
		r, err := scanSecret(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list secrets: %w", err)
		}
		out = append(out, r)
	}
	return out, total, rows.Err()
}

// SecretsWhere lists secrets matching a fixed condition, for the scheduler.
func (t *Tx) secretsWhere(cond string, args ...any) ([]*SecretRow, error) {
	rows, err := t.query("SELECT "+secretColumns+" FROM secrets WHERE "+cond+" ORDER BY "+t.s.b.textOrder("name"), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*SecretRow
	for rows.Next() {
		r, err := scanSecret(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// SecretsWithPending lists secrets that have an ACSPending version: rotations
// a crash interrupted.
func (t *Tx) SecretsWithPending() ([]*SecretRow, error) {
	return t.secretsWhere("id IN (SELECT secret_id FROM stages WHERE stage = ?)", model.StagePending)
}

// DueCandidates lists the names of the secrets the scheduler should look
// at now: secrets on an interval whose time (or retry time, before
// maxRetries failures in a row) has come, found
// by the query itself, and every scheduled secret, whose windows only Go
// can compute, read with the few columns that decide (the rest of each row
// stays in the store). A tick over 10,000 secrets reads little.
func (t *Tx) DueCandidates(now time.Time, maxRetries int, due func(*SecretRow) bool) (names []string, moved []MovedDue, err error) {
	names, err = queryStrings(t, `SELECT name FROM secrets WHERE type = ? AND auto_wanted = ? AND planned_delete = 0
		AND rotation_schedule = '' AND rotation_interval > 0
		AND ((automatic_rotation <> ? AND CASE WHEN last_rotation > 0 THEN last_rotation ELSE create_time END + rotation_interval <= ?)
			OR (automatic_rotation = ? AND rotation_failures < ? AND next_retry <= ?))
		ORDER BY name`, string(model.ECS), true, model.RotationInvalid, now.Unix(), model.RotationInvalid, maxRetries, now.Unix())
	if err != nil {
		return nil, nil, fmt.Errorf("list secrets due: %w", err)
	}
	rows, err := t.query(`SELECT name, automatic_rotation, last_rotation, next_retry, rotation_failures,
		rotation_schedule, rotation_window, rotation_anchor, rotation_due FROM secrets
		WHERE type = ? AND auto_wanted = ? AND planned_delete = 0 AND rotation_schedule <> '' AND rotation_due <= ?`, string(model.ECS), true, now.Unix())
	if err != nil {
		return nil, nil, fmt.Errorf("list scheduled secrets: %w", err)
	}
	defer rows.Close()
	var r SecretRow
	r.Type, r.AutoWanted = model.ECS, true
	for rows.Next() {
		if err := rows.Scan(&r.Name, &r.AutomaticRotation, &r.unix.last, &r.unix.retry, &r.RotationFailures,
			&r.RotationSchedule, &r.RotationWindow, &r.unix.anchor, &r.unix.due); err != nil {
			return nil, nil, err
		}
		r.LastRotationDate, r.NextRetry, r.RotationAnchor = fromUnix(r.unix.last), fromUnix(r.unix.retry), fromUnix(r.unix.anchor)
		if due(&r) {
			names = append(names, r.Name)
		} else if next := r.DueFromNow(now, r.NextRetry); unix(next) > r.unix.due {
			// A window passed unused (no process ran, or a retry time
			// fell after its end): the secret waits for the next one
			// and need not be read at every tick until then.
			moved = append(moved, MovedDue{r.Name, unix(next)})
		}
	}
	return names, moved, rows.Err()
}

// MovedDue is a scheduled secret whose window passed unused, and the time
// it may be due next.
type MovedDue struct {
	name string
	due  int64
}

// MoveDue records the due times DueCandidates moved on (never backwards:
// a rotation or a policy written meanwhile has set its own).
func (t *Tx) MoveDue(moved []MovedDue) error {
	for _, m := range moved {
		if _, err := t.exec("UPDATE secrets SET rotation_due = ? WHERE name = ? AND rotation_due < ?", m.due, m.name, m.due); err != nil {
			return fmt.Errorf("move the rotation time of %s: %w", m.name, err)
		}
	}
	return nil
}

// SecretsToPurge lists secrets whose planned deletion time has passed.
func (t *Tx) SecretsToPurge(now time.Time) ([]*SecretRow, error) {
	return t.secretsWhere("planned_delete > 0 AND planned_delete <= ?", now.Unix())
}

// CountSecretsOfInstance counts secrets that manage the instance.
func (t *Tx) CountSecretsOfInstance(instanceId string) (int, error) {
	var n int
	err := t.row("SELECT count(*) FROM secrets WHERE instance_id = ?", instanceId).Scan(&n)
	return n, err
}

// SecretsOfInstance lists the ECS secrets that manage the instance,
// pending deletion included, by name.
func (t *Tx) SecretsOfInstance(instanceId string) ([]*SecretRow, error) {
	rows, err := t.secretsWhere("instance_id = ? AND type = ?", instanceId, string(model.ECS))
	if err != nil {
		return nil, fmt.Errorf("list secrets of instance %s: %w", instanceId, err)
	}
	return rows, nil
}

// VersionRow is a version's metadata.
type VersionRow struct {
	VersionId  string
	Seq        int64
	CreateTime time.Time
	DataType   string
}

// Versions lists a secret's versions, oldest first.
func (t *Tx) Versions(secretId int64) ([]VersionRow, error) {
	rows, err := t.query("SELECT version_id, seq, create_time, data_type FROM versions WHERE secret_id = ? ORDER BY seq", secretId)
	if err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	defer rows.Close()
	var out []VersionRow
	for rows.Next() {
		var v VersionRow
		var ct int64
		if err := rows.Scan(&v.VersionId, &v.Seq, &ct, &v.DataType); err != nil {
			return nil, err
		}
		v.CreateTime = fromUnix(ct)
		out = append(out, v)
	}
	return out, rows.Err()
}

// VersionValue is a decrypted version.
type VersionValue struct {
	VersionRow
	Data string
}

// Version loads and decrypts one version; nil when it does not exist.
func (t *Tx) Version(s *SecretRow, versionId string) (*VersionValue, error) {
	var v VersionValue
	var ct int64
	var blob []byte
	err := t.rowPrepared("SELECT version_id, seq, create_time, data_type, ciphertext FROM versions WHERE secret_id = ? AND version_id = ?",
		s.ID, versionId).Scan(&v.VersionId, &v.Seq, &ct, &v.DataType, &blob)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load version %s of %s: %w", versionId, s.Name, err)
	}
	v.CreateTime = fromUnix(ct)
	plain, err := t.s.decrypt(blob, secretBinding(s.Name, versionId))
	if err != nil {
		return nil, fmt.Errorf("decrypt version %s of %s: %w", versionId, s.Name, err)
	}
	v.Data = string(plain)
	return &v, nil
}

// InsertVersion encrypts and stores a new version after the secret's others.
func (t *Tx) InsertVersion(s *SecretRow, versionId, data, dataType string, created time.Time) error {
	blob, err := t.encrypt([]byte(data), secretBinding(s.Name, versionId))
	if err != nil {
		return fmt.Errorf("encrypt version: %w", err)
	}
	var seq int64
	if err := t.row("UPDATE secrets SET version_seq = version_seq + 1 WHERE id = ? RETURNING version_seq", s.ID).Scan(&seq); err != nil {
		return fmt.Errorf("number version: %w", err)
	}
	if _, err := t.exec("INSERT INTO versions (secret_id, version_id, seq, create_time, data_type, ciphertext) VALUES (?, ?, ?, ?, ?, ?)",
		s.ID, versionId, seq, unix(created), dataType, blob); err != nil {
		return fmt.Errorf("insert version %s of %s: %w", versionId, s.Name, err)
	}
	return nil
}

// DeleteVersions removes versions (their labels go with them).
func (t *Tx) DeleteVersions(secretId int64, versionIds []string) error {
	for _, v := range versionIds {
		if _, err := t.exec("DELETE FROM versions WHERE secret_id = ? AND version_id = ?", secretId, v); err != nil {
			return fmt.Errorf("delete version %s: %w", v, err)
		}
	}
	return nil
}

const labelsQuery = "SELECT st.stage, st.version_id, st.mac, s.name FROM stages st JOIN secrets s ON s.id = st.secret_id WHERE st.secret_id = ?"

// Labels returns the secret's stage labels, each verified against its MAC:
// a label moved outside kmsconsole is refused, never used.
func (t *Tx) Labels(secretId int64) (model.Labels, error) {
	rows, err := t.queryPrepared(labelsQuery, secretId)
	if err != nil {
		return nil, fmt.Errorf("load stages: %w", err)
	}
	defer rows.Close()
	l := model.Labels{}
	for rows.Next() {
		var stage, v, name string
		var mac sql.RawBytes // checked before the next row
		if err := rows.Scan(&stage, &v, &mac, &name); err != nil {
			return nil, err
		}
		if err := t.s.checkLabel(mac, name, stage, v); err != nil {
			return nil, err
		}
		l[stage] = v
	}
	return l, rows.Err()
}

// checkLabel verifies a stage label against its MAC: a label moved outside
// kmsconsole is refused, never used.
func (s *Store) checkLabel(mac []byte, secretName, stage, versionId string) error {
	ok, err := s.verifyMAC(mac, "stage", secretName, stage, versionId)
	if err != nil {
		return fmt.Errorf("authenticate the stage labels of %s: %w", secretName, err)
	}
	if !ok {
		return s.authError(mac, "secret "+secretName+" stage label "+stage+" (version "+versionId+")", labelRemedy)
	}
	return nil
}

// SetLabels writes the difference between old and new labels, each label
// with its MAC.
func (t *Tx) SetLabels(secretId int64, old, new model.Labels) error {
	for stage := range old {
		if _, ok := new[stage]; !ok {
			if _, err := t.exec("DELETE FROM stages WHERE secret_id = ? AND stage = ?", secretId, stage); err != nil {
				return fmt.Errorf("remove stage %s: %w", stage, err)
			}
		}
	}
	var k *masterKey
	var name string
	for stage, v := range new {
		if old[stage] == v {
			continue
		}
		if k == nil {
			var err error
			if k, err = t.sealKey(); err != nil {
				return fmt.Errorf("set stage %s: %w", stage, err)
			}
			if err := t.row("SELECT name FROM secrets WHERE id = ?", secretId).Scan(&name); err != nil {
				return fmt.Errorf("set stage %s: %w", stage, err)
			}
		}
		if _, err := t.exec("INSERT INTO stages (secret_id, stage, version_id, mac) VALUES (?, ?, ?, ?) ON CONFLICT (secret_id, stage) DO UPDATE SET version_id = excluded.version_id, mac = excluded.mac",
			secretId, stage, v, k.sumMAC("stage", name, stage, v)); err != nil {
			return fmt.Errorf("set stage %s: %w", stage, err)
		}
	}
	return nil
}

// SecretRead is what one read of a value needs: the secret, its verified
// stage labels and, when it exists, the version asked for.
type SecretRead struct {
	Secret  *SecretRow
	Labels  model.Labels
	Version *VersionValue // nil when the secret has no such version
}

// secretReadQuery reads a secret, every stage label and the wanted version
// (the version id given, else the one at the stage given) in one statement:
// one row per label, the secret and the version repeated on each. One
// statement is one consistent snapshot without a transaction around it, so
// the read is one round trip to the database.
const secretReadQuery = "SELECT " + secretReadColumns + `, st.stage, st.version_id, st.mac,
	v.version_id, v.seq, v.create_time, v.data_type, v.ciphertext
FROM secrets s
LEFT JOIN stages st ON st.secret_id = s.id
LEFT JOIN versions v ON v.secret_id = s.id AND v.version_id = CASE WHEN ? <> '' THEN ?
	ELSE (SELECT version_id FROM stages WHERE secret_id = s.id AND stage = ?) END
WHERE s.name = ?`

const secretReadColumns = `s.id, s.name, s.type, s.description, s.region, s.data_type, s.extended_config, s.instance_id,
	s.create_time, s.update_time, s.automatic_rotation, s.rotation_interval, s.last_rotation,
	s.rotation_error, s.rotation_failures, s.next_retry, s.planned_delete, s.auto_wanted,
	s.rotation_schedule, s.rotation_window, s.rotation_anchor`

// ReadSecret reads the secret name with its labels and one version: the
// version versionId, else the version at stage. It returns nil when there
// is no such secret. Labels are checked against their MACs and the value is
// decrypted here, so a tampered label or value is refused, never returned.
func (s *Store) ReadSecret(ctx context.Context, name, versionId, stage string) (*SecretRead, error) {
	st, err := s.readStmt(secretReadQuery)
	if err != nil {
		return nil, fmt.Errorf("load secret %s: %w", name, err)
	}
	rows, err := st.QueryContext(ctx, versionId, versionId, stage, name)
	if err != nil {
		return nil, fmt.Errorf("load secret %s: %w", name, err)
	}
	defer rows.Close()
	var out *SecretRead
	var blob []byte
	for rows.Next() {
		var labelStage, labelVersion, vid, dataType sql.NullString
		var seq, created sql.NullInt64
		var mac, cipher sql.RawBytes
		var sec SecretRow
		dest := append(secretScanDest(&sec), &labelStage, &labelVersion, &mac, &vid, &seq, &created, &dataType, &cipher)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("load secret %s: %w", name, err)
		}
		if out == nil {
			finishSecret(&sec)
			out = &SecretRead{Secret: &sec, Labels: model.Labels{}}
			if vid.Valid {
				out.Version = &VersionValue{VersionRow: VersionRow{VersionId: vid.String, Seq: seq.Int64,
					CreateTime: fromUnix(created.Int64), DataType: dataType.String}}
				blob = append([]byte(nil), cipher...)
			}
		}
		if labelStage.Valid {
			if err := s.checkLabel(mac, sec.Name, labelStage.String, labelVersion.String); err != nil {
				return nil, err
			}
			out.Labels[labelStage.String] = labelVersion.String
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load secret %s: %w", name, err)
	}
	if out != nil && out.Version != nil {
		plain, err := s.decrypt(blob, secretBinding(out.Secret.Name, out.Version.VersionId))
		if err != nil {
			return nil, fmt.Errorf("decrypt version %s of %s: %w", out.Version.VersionId, out.Secret.Name, err)
		}
		out.Version.Data = string(plain)
	}
	return out, nil
}
