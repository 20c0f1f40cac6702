package db

import (
	"context"
	"crypto/hmac"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"kmsconsole/model"
)

// A store copy moves every row of one store into a new, empty one, between
// SQLite and PostgreSQL in either direction. Values are not decrypted: the
// ciphertexts and row MACs are copied byte for byte, so the destination
// must be opened with the same master key. The tables and their columns are
// read from each backend's catalog, so a table added by a later migration
// is copied without a change here; only types that the backends spell
// differently (SQLite's 0/1 for PostgreSQL's BOOLEAN) are converted.

// ErrDestinationNotEmpty is wrapped by the refusal of a copy into a store
// that already holds rows (errors.Is); see NotEmptyError.
var ErrDestinationNotEmpty = errors.New("the destination store is not empty")

// NotEmptyError is a copy refused because the destination holds rows.
type NotEmptyError struct {
	Path string
	// Rows are the tables that hold rows, as "secrets (3 rows)".
	Rows []string
}

func (e *NotEmptyError) Error() string {
	return fmt.Sprintf("the destination %s is not empty (%s): store copy writes only into a new store, freshly created with no rows, "+
		"and changed nothing; give a new SQLite file or an empty PostgreSQL database (or schema)", e.Path, strings.Join(e.Rows, ", "))
}

func (e *NotEmptyError) Is(target error) bool { return target == ErrDestinationNotEmpty }

// ErrKeyMismatch is wrapped by the refusal of a copy whose destination
// would be opened with another master key than the source's.
var ErrKeyMismatch = errors.New("the destination's master key is not the source's")

// ErrSameStore is wrapped by the refusal of a copy of a store onto itself.
var ErrSameStore = errors.New("the source and the destination are the same store")

// CopyOptions say what a copy reads, where it writes, and who asked.
type CopyOptions struct {
	// From and To are store locators, as Open takes them.
	From, To string
	// FromKey is the source's master key file ("" = Open's default for
	// From). ToKey is the key file the destination is opened with ("" =
	// FromKey); it must hold the same key.
	FromKey, ToKey string
	// Operator and RequestId are recorded in the destination's audit log.
	Operator, RequestId string
}

// CopyReport says what a copy did.
type CopyReport struct {
	From, To               string // as messages name them (no password)
	FromBackend, ToBackend string
	// KeyPath is the master key file the destination was written with.
	KeyPath string
	// Rows counts the rows copied, by table (the audit log included, and
	// without the destination's own record of the copy).
	Rows map[string]int64
}

// KeyPathFor is where Open looks for the master key of the store at
// locator when it is given no key path: master.key beside a SQLite file,
// or in DefaultDataDir for PostgreSQL.
func KeyPathFor(locator string) string {
	if IsPostgresURL(locator) {
		return filepath.Join(DefaultDataDir(), "master.key")
	}
	return filepath.Join(filepath.Dir(locator), "master.key")
}

// SameMasterKey reports whether two key files hold the same master key. A
// file that does not exist is fs.ErrNotExist.
func SameMasterKey(a, b string) (bool, error) {
	ka, err := readKey(a)
	if err != nil {
		return false, err
	}
	kb, err := readKey(b)
	if err != nil {
		return false, err
	}
	return hmac.Equal(ka, kb), nil
}

// CopyStore copies the whole store at o.From into the empty store at o.To:
// every table but the destination's own master-key check, the audit log
// with its ids, ciphertexts and MACs as they are. It reads one snapshot of
// the source and writes in one transaction on the destination, so the copy
// is whole or absent; the destination's audit log records it.
func CopyStore(ctx context.Context, o CopyOptions) (*CopyReport, error) {
	if o.From == "" || o.To == "" {
		return nil, errors.New("store copy needs a source and a destination")
	}
	fromKey := o.FromKey
	if fromKey == "" {
		fromKey = KeyPathFor(o.From)
	}
	toKey := o.ToKey
	if toKey == "" {
		toKey = fromKey
	}
	if same, err := sameStore(o.From, o.To); err != nil {
		return nil, err
	} else if same {
		return nil, fmt.Errorf("%w: %s", ErrSameStore, locatorName(o.From))
	}
	if !IsPostgresURL(o.From) {
		// Open would make a new, empty store of a mistyped path.
		if _, err := os.Stat(o.From); err != nil {
			return nil, fmt.Errorf("the source store %s: %w", o.From, err)
		}
	}
	// The keys before any store is opened: Open makes a new key where none
	// is, and a new key is never what a copy wants.
	srcKey, err := readKey(fromKey)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("the source's master key %s does not exist: the copied values stay encrypted under the source's key, "+
				"so the copy needs that key (point KMSCONSOLE_MASTER_KEY_FILE at it)", fromKey)
		}
		return nil, fmt.Errorf("the source's master key: %w", err)
	}
	if toKey != fromKey {
		dstKey, err := readKey(toKey)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("%w: the destination's master key %s does not exist; copy the source's key %s there first, "+
					"or leave the destination's key unset to use the source's", ErrKeyMismatch, toKey, fromKey)
			}
			return nil, fmt.Errorf("the destination's master key: %w", err)
		}
		if !hmac.Equal(srcKey, dstKey) {
			return nil, fmt.Errorf("%w: %s and %s hold different keys; the values are copied still encrypted, so the destination "+
				"must be opened with the source's key; nothing was changed", ErrKeyMismatch, toKey, fromKey)
		}
	}

	src, err := Open(o.From, fromKey)
	if err != nil {
		return nil, fmt.Errorf("open the source: %w", err)
	}
	defer src.Close()
	if err := src.checkKey(); err != nil {
		return nil, fmt.Errorf("the source's master key: %w", err)
	}
	if st, err := src.MasterKeyState(ctx); err != nil {
		return nil, err
	} else if st.NextKeyPath != "" || st.SealingKeyId != st.KeyId {
		return nil, fmt.Errorf("the source %s is in the middle of a master key rotation (%d rows still to move to key %s): "+
			"finish it first (kmsconsole masterkey rotate), so that one key file opens the copy; nothing was changed", src.Path, st.Remaining, st.SealingKeyId)
	}

	created, createdDir := false, false
	if !IsPostgresURL(o.To) {
		if _, err := os.Lstat(o.To); errors.Is(err, fs.ErrNotExist) {
			created = true
		}
		if _, err := os.Lstat(filepath.Dir(o.To)); errors.Is(err, fs.ErrNotExist) {
			createdDir = true
		}
	}
	dst, err := Open(o.To, toKey)
	var report *CopyReport
	if err != nil {
		err = fmt.Errorf("open the destination: %w", err)
	} else {
		report, err = copyInto(ctx, src, dst, o)
		dst.Close()
	}
	if err != nil && created {
		// The file this copy made holds nothing: take it away again.
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			os.Remove(o.To + suffix)
		}
		if createdDir {
			os.Remove(filepath.Dir(o.To)) // only if empty
		}
	}
	if err != nil {
		return nil, err
	}
	report.KeyPath = toKey
	return report, nil
}

// copyInto copies src into the empty dst, in one transaction on dst.
func copyInto(ctx context.Context, src, dst *Store, o CopyOptions) (*CopyReport, error) {
	if dst.readOnly != nil {
		return nil, fmt.Errorf("copy into %s: %w", dst.Path, dst.readOnly)
	}
	report := &CopyReport{From: src.Path, To: dst.Path, FromBackend: src.Backend(), ToBackend: dst.Backend()}
	host, _ := os.Hostname()
	operator := o.Operator
	if operator == "" {
		operator = "kmsconsole"
	}
	err := src.Read(ctx, func(rtx *Tx) error {
		return dst.Write(ctx, func(wtx *Tx) error {
			// Assigned afresh on every attempt (Write may run this again).
			report.Rows = map[string]int64{}
			plan, err := planCopy(rtx, wtx)
			if err != nil {
				return err
			}
			if err := checkEmpty(wtx, plan); err != nil {
				return err
			}
			for _, tbl := range plan {
				n, err := copyRows(rtx, wtx, tbl)
				if err != nil {
					return fmt.Errorf("copy table %s: %w", tbl.name, err)
				}
				report.Rows[tbl.name] = n
			}
			marks, err := rtx.s.b.(catalog).highWater(rtx)
			if err != nil {
				return fmt.Errorf("read the source's id sequences: %w", err)
			}
			if err := wtx.s.b.(catalog).afterCopy(wtx, plan, marks); err != nil {
				return err
			}
			var counts []string
			for _, tbl := range plan {
				if n := report.Rows[tbl.name]; n > 0 {
					counts = append(counts, fmt.Sprintf("%s %d", tbl.name, n))
				}
			}
			return wtx.Audit(model.AuditEvent{Time: timeNow(), Operator: operator, Action: "CopyStore", Target: dst.Path,
				Result: "Success", RequestId: o.RequestId,
				Detail: fmt.Sprintf("store copy from the %s store %s, run on host %s; rows copied: %s (values still encrypted under the same master key; audit ids kept)",
					src.Backend(), src.Path, host, strings.Join(counts, ", "))})
		})
	})
	if err != nil {
		var ne *NotEmptyError
		if errors.As(err, &ne) || errors.Is(err, ErrReadOnly) {
			return nil, err
		}
		return nil, fmt.Errorf("copy %s to %s: %w", src.Path, dst.Path, err)
	}
	return report, nil
}

// colKind is what a column holds, whatever the backend calls it.
type colKind int

const (
	kindOther colKind = iota
	kindInteger
	kindBoolean
	kindText
	kindBlob
)

// kindOf reads a declared or catalog type: SQLite's affinity rules for its
// declared types, PostgreSQL's data_type names.
func kindOf(typ string) colKind {
	t := strings.ToUpper(typ)
	switch {
	case strings.Contains(t, "BOOL"):
		return kindBoolean
	case strings.Contains(t, "INT"):
		return kindInteger
	case strings.Contains(t, "CHAR"), strings.Contains(t, "TEXT"), strings.Contains(t, "CLOB"):
		return kindText
	case strings.Contains(t, "BLOB"), strings.Contains(t, "BYTEA"):
		return kindBlob
	}
	return kindOther
}

type copyColumn struct {
	name     string
	src, dst colKind
}

type copyTable struct {
	name string
	cols []copyColumn
}

// catalog is what a copy asks a backend about its schema, inside a
// transaction of that store.
type catalog interface {
	// tables are the store's tables, without the backend's bookkeeping.
	tables(t *Tx) ([]string, error)
	// columns are a table's columns in order, with their declared types.
	columns(t *Tx, table string) (names, types []string, err error)
	// references are the tables a table's foreign keys point at.
	references(t *Tx, table string) ([]string, error)
	// highWater is, by table, the largest id its sequence has handed out
	// (which rows deleted since may exceed), for tables whose ids are
	// never reused.
	highWater(t *Tx) (map[string]int64, error)
	// afterCopy moves the sequences past the copied ids and the source's
	// high-water marks, so that new rows neither collide nor reuse an id.
	afterCopy(t *Tx, plan []copyTable, marks map[string]int64) error
}

// planCopy matches the two schemas table by table and column by column, and
// orders the tables so that a row is written after the rows it refers to.
func planCopy(rtx, wtx *Tx) ([]copyTable, error) {
	sc, dc := rtx.s.b.(catalog), wtx.s.b.(catalog)
	srcTables, err := sc.tables(rtx)
	if err != nil {
		return nil, fmt.Errorf("read the source's tables: %w", err)
	}
	dstTables, err := dc.tables(wtx)
	if err != nil {
		return nil, fmt.Errorf("read the destination's tables: %w", err)
	}
	slices.Sort(srcTables)
	slices.Sort(dstTables)
	if !slices.Equal(srcTables, dstTables) {
		return nil, fmt.Errorf("the source's tables (%s) are not the destination's (%s): open each store once with this kmsconsole to bring it up to date",
			strings.Join(srcTables, ", "), strings.Join(dstTables, ", "))
	}
	byName := map[string]copyTable{}
	for _, name := range dstTables {
		sn, st, err := sc.columns(rtx, name)
		if err != nil {
			return nil, fmt.Errorf("read the source's columns of %s: %w", name, err)
		}
		dn, dt, err := dc.columns(wtx, name)
		if err != nil {
			return nil, fmt.Errorf("read the destination's columns of %s: %w", name, err)
		}
		srcType := map[string]string{}
		for i, n := range sn {
			srcType[n] = st[i]
		}
		if len(sn) != len(dn) {
			return nil, fmt.Errorf("table %s: the source has columns (%s), the destination (%s)", name, strings.Join(sn, ", "), strings.Join(dn, ", "))
		}
		tbl := copyTable{name: name}
		for i, n := range dn {
			typ, ok := srcType[n]
			if !ok {
				return nil, fmt.Errorf("table %s: the source has columns (%s), the destination (%s)", name, strings.Join(sn, ", "), strings.Join(dn, ", "))
			}
			tbl.cols = append(tbl.cols, copyColumn{name: n, src: kindOf(typ), dst: kindOf(dt[i])})
		}
		byName[name] = tbl
	}
	// Depth-first over the destination's foreign keys: referenced tables
	// first, otherwise in name order.
	var plan []copyTable
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string) error
	visit = func(name string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("the foreign keys of table %s form a cycle", name)
		case 2:
			return nil
		}
		state[name] = 1
		refs, err := dc.references(wtx, name)
		if err != nil {
			return fmt.Errorf("read the foreign keys of %s: %w", name, err)
		}
		slices.Sort(refs)
		for _, r := range refs {
			if _, ok := byName[r]; ok && r != name {
				if err := visit(r); err != nil {
					return err
				}
			}
		}
		state[name] = 2
		plan = append(plan, byName[name])
		return nil
	}
	for _, name := range dstTables {
		if err := visit(name); err != nil {
			return nil, err
		}
	}
	return plan, nil
}

// quoteIdent quotes an identifier the way both dialects read it.
func quoteIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// skipCondition leaves out the rows a copy must not carry: the source's
// record of its own master key (the destination records its own).
func skipCondition(table string) (string, []any) {
	if table == "meta" {
		return " WHERE name <> ?", []any{keyCheckMeta}
	}
	return "", nil
}

// checkEmpty refuses a destination that holds any row a copy would write.
func checkEmpty(wtx *Tx, plan []copyTable) error {
	var full []string
	for _, tbl := range plan {
		where, args := skipCondition(tbl.name)
		var n int64
		if err := wtx.row("SELECT count(*) FROM "+quoteIdent(tbl.name)+where, args...).Scan(&n); err != nil {
			return fmt.Errorf("count the rows of %s in the destination: %w", tbl.name, err)
		}
		if n > 0 {
			unit := "rows"
			if n == 1 {
				unit = "row"
			}
			full = append(full, fmt.Sprintf("%s (%d %s)", tbl.name, n, unit))
		}
	}
	if len(full) > 0 {
		return &NotEmptyError{Path: wtx.s.Path, Rows: full}
	}
	return nil
}

// copyBatchParams bounds the placeholders of one INSERT (SQLite allows
// 32766, PostgreSQL 65535).
const copyBatchParams = 30000

// copyRows streams a table's rows from the source's snapshot into the
// destination, several rows per INSERT.
func copyRows(rtx, wtx *Tx, tbl copyTable) (int64, error) {
	names := make([]string, len(tbl.cols))
	for i, c := range tbl.cols {
		names[i] = quoteIdent(c.name)
	}
	cols := strings.Join(names, ", ")
	where, args := skipCondition(tbl.name)
	rows, err := rtx.query("SELECT "+cols+" FROM "+quoteIdent(tbl.name)+where, args...)
	if err != nil {
		return 0, fmt.Errorf("read: %w", err)
	}
	defer rows.Close()

	perRow := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(tbl.cols)), ", ") + ")"
	batch := max(1, min(500, copyBatchParams/len(tbl.cols)))
	pending := make([]any, 0, batch*len(tbl.cols))
	var total int64
	flush := func() error {
		n := len(pending) / len(tbl.cols)
		if n == 0 {
			return nil
		}
		q := "INSERT INTO " + quoteIdent(tbl.name) + " (" + cols + ") VALUES " + strings.TrimSuffix(strings.Repeat(perRow+", ", n), ", ")
		// Not through Tx.exec: its cache of rewritten queries is for the
		// store's own statements, not for one-off batches.
		if _, err := wtx.tx.ExecContext(wtx.ctx, wtx.s.b.rebind(q), pending...); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		total += int64(n)
		pending = pending[:0]
		return nil
	}
	vals := make([]any, len(tbl.cols))
	ptrs := make([]any, len(tbl.cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		clear(vals)
		if err := rows.Scan(ptrs...); err != nil {
			return 0, fmt.Errorf("read: %w", err)
		}
		for i, c := range tbl.cols {
			v, err := convertValue(vals[i], c)
			if err != nil {
				return 0, fmt.Errorf("column %s: %w", c.name, err)
			}
			pending = append(pending, v)
		}
		if len(pending) >= batch*len(tbl.cols) {
			if err := flush(); err != nil {
				return 0, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read: %w", err)
	}
	if err := flush(); err != nil {
		return 0, err
	}
	return total, nil
}

// convertValue turns a value read from the source into what the
// destination's column takes: SQLite's 0/1 and PostgreSQL's booleans
// into each other, and an empty BLOB (which SQLite reads as a nil slice)
// into an empty, not absent, value.
func convertValue(v any, c copyColumn) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case int64:
		if c.dst == kindBoolean {
			switch x {
			case 0:
				return false, nil
			case 1:
				return true, nil
			}
			return nil, fmt.Errorf("%d is not a boolean (0 or 1)", x)
		}
	case bool:
		if c.dst == kindInteger {
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		}
	case []byte:
		if x == nil && c.dst == kindBlob {
			return []byte{}, nil
		}
		if c.dst == kindText {
			return string(x), nil
		}
	case string:
		if c.dst == kindBlob {
			return []byte(x), nil
		}
	}
	return v, nil
}

// sameStore reports whether two locators name one store: one SQLite file
// (whatever path leads to it), or one PostgreSQL database and schema.
func sameStore(a, b string) (bool, error) {
	if IsPostgresURL(a) != IsPostgresURL(b) {
		return false, nil
	}
	if IsPostgresURL(a) {
		return pgIdentity(a) == pgIdentity(b), nil
	}
	aa, err := filepath.Abs(a)
	if err != nil {
		return false, err
	}
	bb, err := filepath.Abs(b)
	if err != nil {
		return false, err
	}
	if aa == bb {
		return true, nil
	}
	fa, errA := os.Stat(aa)
	fb, errB := os.Stat(bb)
	return errA == nil && errB == nil && os.SameFile(fa, fb), nil
}

// pgIdentity is what tells two PostgreSQL URLs apart as stores: host,
// port, database and schema (search_path), not the password or options.
func pgIdentity(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		port = "5432"
	}
	q := u.Query()
	if host == "" {
		host = q.Get("host")
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	return host + ":" + port + "/" + strings.TrimPrefix(u.Path, "/") + "?search_path=" + q.Get("search_path")
}

// locatorName is a locator as messages may show it.
func locatorName(loc string) string {
	if IsPostgresURL(loc) {
		return RedactURL(loc)
	}
	return loc
}

// The SQLite catalog: sqlite_master and the table-valued pragmas.

func (sqliteBackend) tables(t *Tx) ([]string, error) {
	return queryStrings(t, sqliteTablesQuery)
}

func (sqliteBackend) columns(t *Tx, table string) (names, types []string, err error) {
	return queryPairs(t, "SELECT name, type FROM pragma_table_info(?) ORDER BY cid", table)
}

func (sqliteBackend) references(t *Tx, table string) ([]string, error) {
	return queryStrings(t, `SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)`, table)
}

// highWater: sqlite_sequence, which exists once a table is declared
// AUTOINCREMENT (a plain INTEGER PRIMARY KEY may reuse the largest id
// after it is deleted, so it has no mark to keep).
func (sqliteBackend) highWater(t *Tx) (map[string]int64, error) {
	marks := map[string]int64{}
	var n int
	if err := t.row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'").Scan(&n); err != nil || n == 0 {
		return marks, err
	}
	rows, err := t.query("SELECT name, seq FROM sqlite_sequence")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var seq int64
		if err := rows.Scan(&name, &seq); err != nil {
			return nil, err
		}
		marks[name] = seq
	}
	return marks, rows.Err()
}

// afterCopy: an INTEGER PRIMARY KEY continues after the largest id by
// itself, and SQLite moves an AUTOINCREMENT table's sqlite_sequence past
// every id inserted; what remains is the source's mark beyond the rows.
func (sqliteBackend) afterCopy(t *Tx, plan []copyTable, marks map[string]int64) error {
	for _, tbl := range plan {
		mark := marks[tbl.name]
		if mark <= 0 {
			continue
		}
		var auto int
		if err := t.row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ? AND upper(sql) LIKE '%AUTOINCREMENT%'", tbl.name).Scan(&auto); err != nil {
			return fmt.Errorf("read the schema of %s: %w", tbl.name, err)
		}
		if auto == 0 {
			continue
		}
		res, err := t.exec("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?", mark, tbl.name)
		if err != nil {
			return fmt.Errorf("advance the sequence of %s: %w", tbl.name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := t.exec("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", tbl.name, mark); err != nil {
				return fmt.Errorf("advance the sequence of %s: %w", tbl.name, err)
			}
		}
	}
	return nil
}

// The PostgreSQL catalog: the schema first on the search path (where
// migrate made the tables); schema_version is migrate's bookkeeping.

func (*postgresBackend) tables(t *Tx) ([]string, error) {
	return queryStrings(t, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'schema_version'`)
}

func (*postgresBackend) columns(t *Tx, table string) (names, types []string, err error) {
	return queryPairs(t, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position`, table)
}

func (*postgresBackend) references(t *Tx, table string) ([]string, error) {
	return queryStrings(t, `SELECT DISTINCT ref.relname FROM pg_constraint c
		JOIN pg_class tbl ON tbl.oid = c.conrelid
		JOIN pg_class ref ON ref.oid = c.confrelid
		JOIN pg_namespace n ON n.oid = tbl.relnamespace
		WHERE c.contype = 'f' AND n.nspname = current_schema() AND tbl.relname = ?`, table)
}

// pgSerialColumns lists the identity (or serial) columns of the schema
// with their sequences.
const pgSerialColumns = `SELECT c.table_name, c.column_name, seq FROM information_schema.columns c,
	LATERAL (SELECT pg_get_serial_sequence(quote_ident(c.table_schema) || '.' || quote_ident(c.table_name), c.column_name) AS seq) s
	WHERE c.table_schema = current_schema() AND seq IS NOT NULL`

// highWater: the last value each identity sequence handed out.
func (*postgresBackend) highWater(t *Tx) (map[string]int64, error) {
	rows, err := t.query("SELECT table_name, pg_sequence_last_value(seq::regclass) FROM (" + pgSerialColumns + ") x")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	marks := map[string]int64{}
	for rows.Next() {
		var table string
		var last sql.NullInt64
		if err := rows.Scan(&table, &last); err != nil {
			return nil, err
		}
		if last.Valid {
			marks[table] = last.Int64
		}
	}
	return marks, rows.Err()
}

// afterCopy moves every identity (or serial) sequence of the copied tables
// past the largest id copied and the source's mark.
func (*postgresBackend) afterCopy(t *Tx, plan []copyTable, marks map[string]int64) error {
	copied := map[string]bool{}
	for _, tbl := range plan {
		copied[tbl.name] = true
	}
	rows, err := t.query(pgSerialColumns)
	if err != nil {
		return fmt.Errorf("find the identity sequences: %w", err)
	}
	type serial struct{ table, column, seq string }
	var serials []serial
	for rows.Next() {
		var s serial
		if err := rows.Scan(&s.table, &s.column, &s.seq); err != nil {
			rows.Close()
			return err
		}
		if copied[s.table] {
			serials = append(serials, s)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("find the identity sequences: %w", err)
	}
	for _, s := range serials {
		mark := sql.NullInt64{Int64: marks[s.table], Valid: marks[s.table] > 0}
		q := fmt.Sprintf("SELECT setval(?::regclass, m) FROM (SELECT greatest(max(%s), ?::bigint) AS m FROM %s) x WHERE m > 0", quoteIdent(s.column), quoteIdent(s.table))
		if _, err := t.exec(q, s.seq, mark); err != nil {
			return fmt.Errorf("advance the sequence of %s.%s: %w", s.table, s.column, err)
		}
	}
	return nil
}

// queryStrings runs a query of one text column and returns its values.
func queryStrings(t *Tx, q string, args ...any) ([]string, error) {
	return scanStrings(t.query(q, args...))
}

// scanStrings reads every row of a one-column text query and closes it.
func scanStrings(rows *sql.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// sqliteTablesQuery lists a SQLite database's own tables.
const sqliteTablesQuery = `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`

func queryPairs(t *Tx, q string, args ...any) (a, b []string, err error) {
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var x, y string
		if err := rows.Scan(&x, &y); err != nil {
			return nil, nil, err
		}
		a, b = append(a, x), append(b, y)
	}
	return a, b, rows.Err()
}
