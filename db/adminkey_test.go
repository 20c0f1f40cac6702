package db

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"kmsconsole/db/dbtest"
)

// The admin key rotation's columns of an instance row (migration 8): the
// pending key is sealed apart from the admin key, every column is under
// the row MAC, and rows that never used them keep the MAC they had.

func TestInstanceAdminKeyColumns(t *testing.T) {
	loc := dbtest.Locator(t)
	s, err := Open(loc, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	plain, rotated := testInstance("i-plain", "192.0.2.10"), testInstance("i-rot", "192.0.2.11")
	addInstances(t, s, plain, rotated)

	// A row that never used the new columns is MACed over the fields it
	// always had: rows written before migration 8 still verify.
	if n := len(instanceFields(plain, []byte("blob"), []byte{})); n != 9 {
		t.Fatalf("a row with default admin key columns has %d MAC fields, want the 9 of before", n)
	}

	pending := []byte("-----BEGIN OPENSSH PRIVATE KEY-----\npending\n-----END OPENSSH PRIVATE KEY-----\n")
	when := time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)
	// reset writes i-rot as a rotation left it, through the store.
	reset := func() {
		t.Helper()
		if err := s.Write(ctx, func(tx *Tx) error {
			if err := tx.DeleteInstance("i-rot"); err != nil {
				return err
			}
			if err := tx.InsertInstance(rotated); err != nil {
				return err
			}
			r, err := tx.Instance("i-rot")
			if err != nil {
				return err
			}
			r.PendingAdminKey = pending
			r.RetiredAdminKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIretired"
			r.AdminKeyRotated, r.AdminKeyPeriod = when, 30*86400
			r.AdminKeyError, r.AdminKeyFailures, r.AdminKeyRetry = "refused", 2, when.Add(time.Hour)
			return tx.UpdateInstanceKeys(r)
		}); err != nil {
			t.Fatal(err)
		}
	}
	reset()
	r, err := readInstance(s, "i-rot")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.PendingAdminKey, pending) || !bytes.Equal(r.AdminKey, rotated.AdminKey) || !r.AdminKeyPending ||
		r.RetiredAdminKey == "" || !r.AdminKeyRotated.Equal(when) || r.AdminKeyPeriod != 30*86400 ||
		r.AdminKeyError != "refused" || r.AdminKeyFailures != 2 || !r.AdminKeyRetry.Equal(when.Add(time.Hour)) {
		t.Fatalf("read back %+v", r.Instance)
	}
	var list []string
	if err := s.Read(ctx, func(tx *Tx) error {
		all, err := tx.Instances("")
		for _, in := range all {
			if in.AdminKeyPending {
				list = append(list, in.InstanceId)
			}
		}
		return err
	}); err != nil || len(list) != 1 || list[0] != "i-rot" {
		t.Fatalf("instances with a pending key: %v, %v", list, err)
	}

	// The pending key is sealed under its own binding: it does not open as
	// an admin key, nor the admin key as a pending one.
	raw := dbtest.Raw(t, loc)
	var blob, pend []byte
	if err := raw.QueryRow("SELECT admin_key, pending_admin_key FROM instances WHERE instance_id = 'i-rot'").Scan(&blob, &pend); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(pend, []byte("pending")) {
		t.Fatal("the pending key is stored in clear")
	}
	if _, err := s.decrypt(pend, instanceBinding("i-rot")); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("the pending key opens as the admin key: %v", err)
	}
	if _, err := s.decrypt(blob, pendingAdminKeyBinding("i-rot")); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("the admin key opens as a pending key: %v", err)
	}

	// Every new column is under the MAC: an edit without the master key is
	// refused, naming the row; so is blanking them all (the row then claims
	// to be one of before). The untouched row still reads.
	for _, q := range []string{
		"UPDATE instances SET admin_key = pending_admin_key, pending_admin_key = admin_key WHERE instance_id = 'i-rot'",
		"UPDATE instances SET pending_admin_key = '' WHERE instance_id = 'i-rot'",
		"UPDATE instances SET retired_admin_key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIother' WHERE instance_id = 'i-rot'",
		"UPDATE instances SET admin_key_period = 0 WHERE instance_id = 'i-rot'",
		"UPDATE instances SET admin_key_failures = 0, admin_key_retry = 0, admin_key_error = '' WHERE instance_id = 'i-rot'",
		"UPDATE instances SET pending_admin_key = '', retired_admin_key = '', admin_key_rotated = 0, admin_key_period = 0, " +
			"admin_key_error = '', admin_key_failures = 0, admin_key_retry = 0 WHERE instance_id = 'i-rot'",
		"UPDATE instances SET admin_key_period = 3600 WHERE instance_id = 'i-plain'",
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		id := "i-rot"
		if strings.Contains(q, "i-plain") {
			id = "i-plain"
		}
		_, rerr := readInstance(s, id)
		if rerr == nil || !errors.Is(rerr, ErrRowAuth) || !strings.Contains(rerr.Error(), "instance "+id) {
			t.Fatalf("%s: read %v, want a refusal naming the instance", q, rerr)
		}
		if id == "i-plain" {
			if _, err := raw.Exec("UPDATE instances SET admin_key_period = 0 WHERE instance_id = 'i-plain'"); err != nil {
				t.Fatal(err)
			}
		}
		reset()
	}
	if r, err := readInstance(s, "i-plain"); err != nil || r.AdminKeyPending || r.AdminKeyPeriod != 0 {
		t.Fatalf("untouched row: %+v %v", r, err)
	}
	if r, err := readInstance(s, "i-rot"); err != nil || !bytes.Equal(r.PendingAdminKey, pending) {
		t.Fatalf("rolled-back edits left the row refused: %v", err)
	}
}
