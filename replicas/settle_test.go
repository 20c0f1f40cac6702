package replicas

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"kmsconsole/db"
	"kmsconsole/model"
	"kmsconsole/service"
)

// TestDueSecretWithTakenPendingRotatesOnce: a due secret whose rotation
// was cut short after the host took the new password (its replica died,
// or the store went away before the promotion) is rotated by then. When
// the scheduler's RotateDue reaches it before a ResolveAllPending has (the
// dead holder's lease expired between the two, or the store came back
// between them), settling promotes the pending version, and that is the
// rotation: no second one. Found by TestPostgresRestartWhileWorking (a
// secret rotated twice after an outage), made deterministic here in one
// process on real PostgreSQL and sshd.
func TestDueSecretWithTakenPendingRotatesOnce(t *testing.T) {
	requireAll(t)
	t.Parallel()
	w := newWorld(t, sharedCluster(t), true)
	f := w.newFleet("i-settle", 1)
	f.watchAdmin(t, 0)
	name, user := f.secrets[0], f.users[0]
	oldVid := w.mustState(name).labels[model.StageCurrent]

	// What a replica killed after its set step leaves: the host has the new
	// password, the store holds it as ACSPending, the secret is due.
	pw, err := model.RandomPassword(model.PasswordOptions{ExcludeCharacters: `'"\`, RequireEachIncludedType: true})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("chpasswd")
	cmd.Stdin = strings.NewReader(user + ":" + pw + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd: %v %s", err, out)
	}
	const pending = "cut-short-1"
	if err := w.store.Write(context.Background(), func(tx *db.Tx) error {
		sec, err := tx.SecretByName(name)
		if err != nil {
			return err
		}
		if err := tx.InsertVersion(sec, pending, model.ECSData{UserName: user, Password: pw}.JSON(), model.DataText, time.Now()); err != nil {
			return err
		}
		labels, err := tx.Labels(sec.ID)
		if err != nil {
			return err
		}
		next := labels.Clone()
		next[model.StagePending] = pending
		return tx.SetLabels(sec.ID, labels, next)
	}); err != nil {
		t.Fatal(scrub(err, w.password))
	}
	w.makeDue(name)

	// A service of its own: its management connection logs in after
	// watchAdmin, so the admin's commands are counted.
	sched := service.New(w.store, service.Options{Region: region, Actor: service.Actor{Name: "scheduler", Role: model.RoleAdmin}})
	defer sched.Close()
	results := sched.RotateDue(context.Background())
	st := w.mustState(name)
	if st.labels[model.StageCurrent] != pending || st.labels[model.StagePrevious] != oldVid || st.labels[model.StagePending] != "" || len(st.versions) != 2 {
		t.Errorf("after RotateDue (%+v): labels %v, %d versions; want the pending %s promoted over %s and no second rotation\n%s",
			results, st.labels, len(st.versions), pending, oldVid, w.history(name))
	}
	if n := f.chpasswdRuns(t)[user]; n != 0 {
		t.Errorf("RotateDue changed the host %d more time(s) after settling", n)
	}
	// And it is no longer due: a second pass does nothing.
	sched.RotateDue(context.Background())
	if st := w.mustState(name); len(st.versions) != 2 || st.labels[model.StageCurrent] != pending {
		t.Errorf("a second pass rotated again: labels %v, %d versions", st.labels, len(st.versions))
	}
}
