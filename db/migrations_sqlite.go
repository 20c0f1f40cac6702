package db

// sqliteMigrations are applied in order; PRAGMA user_version records how many ran.
// Never edit a shipped migration: append a new one.
var sqliteMigrations = []string{
	// 1: secrets, versions, stage labels, instances, operators, audit,
	// rotation log (rate limit) and leases (cross-process locks).
	`
CREATE TABLE secrets (
	id                 INTEGER PRIMARY KEY,
	name               TEXT NOT NULL UNIQUE,
	type               TEXT NOT NULL,
	description        TEXT NOT NULL DEFAULT '',
	region             TEXT NOT NULL,
	data_type          TEXT NOT NULL,
	extended_config    TEXT NOT NULL DEFAULT '',
	instance_id        TEXT NOT NULL DEFAULT '',
	create_time        INTEGER NOT NULL,
	update_time        INTEGER NOT NULL,
	automatic_rotation TEXT NOT NULL DEFAULT 'Disabled',
	rotation_interval  INTEGER NOT NULL DEFAULT 0,
	last_rotation      INTEGER NOT NULL DEFAULT 0,
	rotation_error     TEXT NOT NULL DEFAULT '',
	rotation_failures  INTEGER NOT NULL DEFAULT 0,
	next_retry         INTEGER NOT NULL DEFAULT 0,
	planned_delete     INTEGER NOT NULL DEFAULT 0,
	version_seq        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX secrets_region ON secrets(region, name);
CREATE INDEX secrets_instance ON secrets(instance_id);
CREATE TABLE versions (
	secret_id   INTEGER NOT NULL REFERENCES secrets(id) ON DELETE CASCADE,
	version_id  TEXT NOT NULL,
	seq         INTEGER NOT NULL,
	create_time INTEGER NOT NULL,
	data_type   TEXT NOT NULL,
	ciphertext  BLOB NOT NULL,
	PRIMARY KEY (secret_id, version_id)
) WITHOUT ROWID;
CREATE TABLE stages (
	secret_id  INTEGER NOT NULL,
	stage      TEXT NOT NULL,
	version_id TEXT NOT NULL,
	PRIMARY KEY (secret_id, stage),
	FOREIGN KEY (secret_id, version_id) REFERENCES versions(secret_id, version_id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE TABLE instances (
	instance_id TEXT PRIMARY KEY,
	name        TEXT NOT NULL DEFAULT '',
	region      TEXT NOT NULL,
	host        TEXT NOT NULL,
	port        INTEGER NOT NULL,
	admin_user  TEXT NOT NULL,
	admin_key   BLOB NOT NULL,
	host_key    TEXT NOT NULL,
	create_time INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE operators (
	name        TEXT PRIMARY KEY,
	public_key  TEXT NOT NULL UNIQUE,
	role        TEXT NOT NULL,
	create_time INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE audit (
	id         INTEGER PRIMARY KEY,
	time       INTEGER NOT NULL,
	operator   TEXT NOT NULL,
	action     TEXT NOT NULL,
	target     TEXT NOT NULL DEFAULT '',
	version_id TEXT NOT NULL DEFAULT '',
	result     TEXT NOT NULL,
	error_code TEXT NOT NULL DEFAULT '',
	error      TEXT NOT NULL DEFAULT '',
	request_id TEXT NOT NULL DEFAULT ''
);
CREATE TABLE rotations (
	secret_name TEXT NOT NULL,
	started     INTEGER NOT NULL
);
CREATE INDEX rotations_by_secret ON rotations(secret_name, started);
CREATE TABLE leases (
	name    TEXT PRIMARY KEY,
	holder  TEXT NOT NULL,
	expires INTEGER NOT NULL
) WITHOUT ROWID;
`,
	// 2: whether the operator wants automatic rotation, kept apart from
	// AutomaticRotation, which shows Invalid while rotations fail.
	`ALTER TABLE secrets ADD COLUMN auto_wanted INTEGER NOT NULL DEFAULT 0;
UPDATE secrets SET auto_wanted = 1 WHERE automatic_rotation = 'Enabled';`,
	// 3: reads are audited too: the stage a value was read at, and how
	// (a console reveal or copy, a no-op retry).
	`ALTER TABLE audit ADD COLUMN stage TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN detail TEXT NOT NULL DEFAULT '';`,
	// 4: registry integrity. Instance rows and stage labels carry an
	// HMAC-SHA256 under a key derived from the master key (mac.go); an
	// empty MAC is never accepted. Rows already there get theirs from
	// sealLegacyRows, which needs the master key and so runs after the
	// migrations, once, while the meta marker below is present.
	`ALTER TABLE instances ADD COLUMN mac BLOB NOT NULL DEFAULT x'';
ALTER TABLE stages ADD COLUMN mac BLOB NOT NULL DEFAULT x'';
CREATE TABLE meta (
	name  TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (name, value) SELECT 'unsealed_registry_rows', 'migration 4'
	WHERE EXISTS (SELECT 1 FROM instances) OR EXISTS (SELECT 1 FROM stages);`,
	// 5: access keys, the API's application identities (SPEC §7). Secrets
	// are sealed under the master key; each row carries a MAC (mac.go),
	// since its policy and status decide what the key may do.
	`CREATE TABLE access_keys (
	access_key_id   TEXT PRIMARY KEY,
	name            TEXT NOT NULL UNIQUE,
	status          TEXT NOT NULL,
	policy          TEXT NOT NULL,
	create_time     INTEGER NOT NULL,
	created_by      TEXT NOT NULL,
	secret          BLOB NOT NULL,
	secret_rotated  INTEGER NOT NULL,
	previous_secret BLOB NOT NULL DEFAULT x'',
	previous_until  INTEGER NOT NULL DEFAULT 0,
	mac             BLOB NOT NULL
) WITHOUT ROWID;`,
	// 6: the event outbox (SPEC §9). An event is written in the
	// transaction of the change it describes and delivered, at least once,
	// by package events to each channel on its own: per channel, the
	// attempts made, when the next may start (also the claim of a delivery
	// under way), the last error and when it was delivered (0 = not yet).
	// seq is the commit order (AUTOINCREMENT: never reused after a prune),
	// which per secret is the delivery order. Times in milliseconds.
	`CREATE TABLE events (
	seq               INTEGER PRIMARY KEY AUTOINCREMENT,
	id                TEXT NOT NULL UNIQUE,
	time              INTEGER NOT NULL,
	type              TEXT NOT NULL,
	secret_name       TEXT NOT NULL,
	version_id        TEXT NOT NULL DEFAULT '',
	operator          TEXT NOT NULL DEFAULT '',
	body              TEXT NOT NULL,
	command_attempts  INTEGER NOT NULL DEFAULT 0,
	command_next      INTEGER NOT NULL DEFAULT 0,
	command_error     TEXT NOT NULL DEFAULT '',
	command_delivered INTEGER NOT NULL DEFAULT 0,
	webhook_attempts  INTEGER NOT NULL DEFAULT 0,
	webhook_next      INTEGER NOT NULL DEFAULT 0,
	webhook_error     TEXT NOT NULL DEFAULT '',
	webhook_delivered INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX events_command_pending ON events(secret_name, seq) WHERE command_delivered = 0;
CREATE INDEX events_webhook_pending ON events(secret_name, seq) WHERE webhook_delivered = 0;
CREATE INDEX events_by_time ON events(time);`,
	// 7: rotation schedules and windows (SPEC §9): a rate() or cron()
	// expression, the window in seconds, the anchor of rate windows (when
	// the policy was set: the grid does not drift with manual rotations),
	// and the earliest time a scheduled secret may be due, so that the
	// scheduler's query finds the few that are (model.Secret.DueFrom).
	`ALTER TABLE secrets ADD COLUMN rotation_schedule TEXT NOT NULL DEFAULT '';
ALTER TABLE secrets ADD COLUMN rotation_window INTEGER NOT NULL DEFAULT 0;
ALTER TABLE secrets ADD COLUMN rotation_anchor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE secrets ADD COLUMN rotation_due INTEGER NOT NULL DEFAULT 0;
CREATE INDEX secrets_rotation_due ON secrets(rotation_due) WHERE rotation_schedule <> '';`,
	// 8: the management login's own key rotation (instance rotate-admin-key):
	// the new admin key stored, sealed, before the host sees it (empty: no
	// rotation under way); the public key of the key it replaced while that
	// key's authorized_keys line may still be on the host; when the key was
	// last replaced; the period of automatic rotations (seconds, 0 = none);
	// and the last automatic rotation's failure, failures in a row and next
	// retry. The row MAC covers them (mac.go instanceFields).
	`ALTER TABLE instances ADD COLUMN pending_admin_key BLOB NOT NULL DEFAULT x'';
ALTER TABLE instances ADD COLUMN retired_admin_key TEXT NOT NULL DEFAULT '';
ALTER TABLE instances ADD COLUMN admin_key_rotated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN admin_key_period INTEGER NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN admin_key_error TEXT NOT NULL DEFAULT '';
ALTER TABLE instances ADD COLUMN admin_key_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN admin_key_retry INTEGER NOT NULL DEFAULT 0;`,
}
