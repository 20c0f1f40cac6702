package replicas

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"kmsconsole/db"
	"kmsconsole/ecs"
	"kmsconsole/model"
)

// Scheduler settings of the replicas: a short tick and lease, so that the
// tests wait seconds, not minutes.
const (
	tick     = time.Second
	leaseTTL = 4 * time.Second
)

var schedFlags = []string{"--scheduler-tick", tick.String(), "--lease-ttl", leaseTTL.String()}

// TestTwoReplicasRotateEachDueSecretOnce: two serve replicas, each with a
// data directory of its own, share one database and one sshd. Forty ECS
// secrets are due; each is rotated exactly once: one chpasswd on the host
// and one verification login per user, two versions per secret, one
// rotation record and one audited RotateSecret, and the two schedulers'
// logs split the forty between them without overlap.
func TestTwoReplicasRotateEachDueSecretOnce(t *testing.T) {
	requireAll(t)
	t.Parallel()
	prebuild()
	const n = 40
	began := time.Now()
	w := newWorld(t, sharedCluster(t), true)
	f := w.newFleet("i-two", n)
	f.watchAdmin(t, 0)
	initial := map[string]string{}
	for _, s := range f.secrets {
		initial[s] = w.mustState(s).labels[model.StageCurrent]
	}
	w.makeDue(f.secrets...)
	binary(t)

	start := time.Now()
	setup := start.Sub(began)
	var a, b *replica
	var wg sync.WaitGroup
	dirA, dirB := w.dataDir("a"), w.dataDir("b")
	wg.Add(1)
	go func() { defer wg.Done(); a = w.startReplica("a", dirA, schedFlags...) }()
	b = w.startReplica("b", dirB, schedFlags...)
	wg.Wait()
	if a == nil {
		t.FailNow()
	}

	rotated := func() int {
		done := 0
		for _, s := range f.secrets {
			st, err := w.state(s)
			if err == nil && st.labels[model.StageCurrent] != initial[s] && st.labels[model.StagePending] == "" {
				done++
			}
		}
		return done
	}
	// A loaded machine rotates slowly: what must not happen is a stall.
	last, lastChange := 0, time.Now()
	if !waitFor(5*time.Minute, 100*time.Millisecond, func() bool {
		if k := rotated(); k != last {
			last, lastChange = k, time.Now()
		}
		return last == n || time.Since(lastChange) > 30*time.Second
	}) || last != n {
		t.Fatalf("%d of %d secrets rotated, none more for 30 s\nreplica a:\n%s\nreplica b:\n%s", last, n,
			scrub(a.log.String(), w.password), scrub(b.log.String(), w.password))
	}
	took := time.Since(start)
	// Two more passes of each scheduler: nothing may rotate again.
	time.Sleep(2*tick + tick/2)

	changes, logins := f.chpasswdRuns(t), f.logins()
	byA, byB := a.rotated(), b.rotated()
	totalChanges, totalVersions := 0, 0
	for i, s := range f.secrets {
		u := f.users[i]
		st := w.mustState(s)
		totalVersions += len(st.versions)
		totalChanges += changes[u]
		cur := st.labels[model.StageCurrent]
		if len(st.versions) != 2 || cur == initial[s] || st.labels[model.StagePrevious] != initial[s] || st.labels[model.StagePending] != "" {
			t.Errorf("%s: %d versions, labels %v (initial %s): want exactly one rotation", s, len(st.versions), st.labels, initial[s])
		}
		if changes[u] != 1 {
			t.Errorf("%s: %d chpasswd runs on the host, want 1", u, changes[u])
		}
		if logins[u] != 1 {
			t.Errorf("%s: %d accepted logins (verifications) on the host, want 1", u, logins[u])
		}
		logged := append(append([]string(nil), byA[s]...), byB[s]...)
		if len(logged) != 1 || logged[0] != cur {
			t.Errorf("%s: the replicas logged rotations %v (a %v, b %v), ACSCurrent %s", s, logged, byA[s], byB[s], cur)
		}
		var records int
		w.store.Read(context.Background(), func(tx *db.Tx) error {
			var err error
			records, err = tx.CountRotationsSince(s, start.Add(-time.Minute))
			return err
		})
		if records != 1 {
			t.Errorf("%s: %d rotation records, want 1", s, records)
		}
	}
	if len(byA) == 0 || len(byB) == 0 {
		t.Errorf("one replica did all the work: a rotated %d, b %d", len(byA), len(byB))
	}
	success := 0
	for _, e := range w.audit("RotateSecret") {
		if e.Action == "RotateSecret" && e.Result == "Success" {
			success++
			if e.Operator != "scheduler" {
				t.Errorf("RotateSecret of %s audited as %s", e.Target, e.Operator)
			}
		}
	}
	if success != n {
		t.Errorf("%d successful RotateSecret audited, want %d", success, n)
	}

	// The host takes every ACSCurrent.
	accepted := hostsAccept(t, w, f)
	t.Logf("%d due secrets (set up in %v) rotated in %v by two replicas (a %d, b %d): %d chpasswd runs, %d verification logins, %d versions, %d/%d ACSCurrent log in",
		n, setup.Round(10*time.Millisecond), took.Round(10*time.Millisecond), len(byA), len(byB), totalChanges, sum(logins), totalVersions, accepted, n)
	noPasswordIn(t, w.password, f.srv.LogPath)
}

func sum(m map[string]int) (n int) {
	for _, v := range m {
		n += v
	}
	return n
}

// hostsAccept logs in over SSH as each user with the store's ACSCurrent
// password, eight at a time, and returns how many were accepted.
func hostsAccept(t *testing.T, w *world, f *fleet) int {
	t.Helper()
	var mu sync.Mutex
	ok := 0
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, s := range f.secrets {
		pw := w.ecsPassword(s, w.mustState(s).labels[model.StageCurrent])
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := ecs.VerifyPassword(ctx, f.srv.Host, f.srv.Port, f.srv.HostKey, f.users[i], pw); err != nil {
				t.Errorf("%s: the host refuses the store's ACSCurrent: %v", s, err)
				return
			}
			mu.Lock()
			ok++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return ok
}

// TestKilledReplicaSettledByOther: the replica that rotates a secret is
// killed with SIGKILL once the host has taken the new password and before
// the store promoted it (the admin's chpasswd answers only 30 s after the
// change, so the replica is certainly waiting there). The other replica
// settles the pending version once the dead one's lease expires, within
// lease TTL + one tick, never before the lease could have expired; the
// host accepts the new ACSCurrent over SSH, and the host was changed once.
func TestKilledReplicaSettledByOther(t *testing.T) {
	requireAll(t)
	t.Parallel()
	prebuild()
	w := newWorld(t, sharedCluster(t), true)
	f := w.newFleet("i-kill", 1)
	f.watchAdmin(t, 30)
	name, user := f.secrets[0], f.users[0]
	oldVid := w.mustState(name).labels[model.StageCurrent]
	oldHash := shadowHash(t, user)
	w.makeDue(name)
	binary(t)

	var a, b *replica
	var wg sync.WaitGroup
	dirA, dirB := w.dataDir("a"), w.dataDir("b")
	wg.Add(1)
	go func() { defer wg.Done(); a = w.startReplica("a", dirA, schedFlags...) }()
	b = w.startReplica("b", dirB, schedFlags...)
	wg.Wait()
	if a == nil {
		t.FailNow()
	}

	// Mid-rotation: the host has the new password, the store holds it as
	// ACSPending, a replica holds the lease.
	var pendVid string
	if !waitFor(30*time.Second, 10*time.Millisecond, func() bool {
		pendVid = w.mustState(name).labels[model.StagePending]
		return pendVid != "" && shadowHash(t, user) != oldHash
	}) {
		t.Fatalf("no rotation reached the host with a pending version (pending %q)", pendVid)
	}
	victim, survivor := a, b
	switch pid := holderPid(w, name); pid {
	case a.pid():
	case b.pid():
		victim, survivor = b, a
	default:
		t.Fatalf("the lease of %s is held by pid %d, neither replica (pids %d, %d)", name, pid, a.pid(), b.pid())
	}
	victim.kill9(t)
	killed := time.Now()
	if st := w.mustState(name); st.labels[model.StagePending] != pendVid || st.labels[model.StageCurrent] != oldVid {
		t.Fatalf("after the kill: labels %v, want ACSPending %s and ACSCurrent %s", st.labels, pendVid, oldVid)
	}

	// The survivor takes the lease over (seen as its pid in the holder)
	// and settles the rotation.
	var st secretState
	var takeover time.Duration
	if !waitFor(leaseTTL+tick+30*time.Second, 10*time.Millisecond, func() bool {
		if takeover == 0 && holderPid(w, name) == survivor.pid() {
			takeover = time.Since(killed)
		}
		st = w.mustState(name)
		return st.labels[model.StagePending] == ""
	}) {
		t.Fatalf("replica %s did not settle the rotation within %v of the kill:\n%s", survivor.name, leaseTTL+tick+30*time.Second,
			scrub(survivor.log.String(), w.password))
	}
	settled := time.Since(killed)
	// The lease was renewed at most TTL/4 before the kill: it lasted at
	// least 3/4 TTL after it, and at most TTL; the survivor's next tick
	// takes it (1 s of slack for a loaded machine).
	switch {
	case takeover == 0:
		t.Errorf("never saw replica %s hold the lease; settled %v after the kill", survivor.name, settled)
	case takeover > leaseTTL+tick+time.Second:
		t.Errorf("replica %s took the lease over %v after the kill, want within lease TTL %v + tick %v", survivor.name, takeover, leaseTTL, tick)
	case takeover < leaseTTL*3/4-100*time.Millisecond:
		t.Errorf("replica %s took the lease %v after the kill: before it could have expired", survivor.name, takeover)
	}
	if st.labels[model.StageCurrent] != pendVid || st.labels[model.StagePrevious] != oldVid || len(st.versions) != 2 {
		t.Fatalf("settled to labels %v with %d versions: want the pending %s promoted over %s", st.labels, len(st.versions), pendVid, oldVid)
	}
	pw := w.ecsPassword(name, pendVid)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ecs.VerifyPassword(ctx, f.srv.Host, f.srv.Port, f.srv.HostKey, user, pw); err != nil {
		t.Fatalf("the host refuses the settled ACSCurrent: %v", err)
	}
	if n := f.chpasswdRuns(t)[user]; n != 1 {
		t.Errorf("%d chpasswd runs on the host, want 1 (the killed replica's)", n)
	}
	resolved := 0
	for _, e := range w.audit("ResolvePendingRotation") {
		if e.Action == "ResolvePendingRotation" && e.Target == name {
			resolved++
			if e.Result != "Success" || e.VersionId != pendVid || e.Operator != "scheduler" || !strings.Contains(e.Error+e.Detail, "accepts the pending version") {
				t.Errorf("audit: %+v", e)
			}
		}
	}
	if resolved != 1 {
		t.Errorf("%d ResolvePendingRotation records, want 1", resolved)
	}
	// A tick later nothing rotates again: the secret is no longer due.
	time.Sleep(tick + tick/2)
	if st := w.mustState(name); len(st.versions) != 2 || !survivor.alive() || len(survivor.rotated()) != 0 {
		t.Errorf("after settling: %d versions, survivor alive %v, survivor rotated %v", len(st.versions), survivor.alive(), survivor.rotated())
	}
	t.Logf("replica %s killed mid-rotation (host changed, %s pending); replica %s took the lease over %v later and had settled it %v after the kill (lease TTL %v, tick %v); the host accepts ACSCurrent %s",
		victim.name, pendVid, survivor.name, takeover.Round(10*time.Millisecond), settled.Round(10*time.Millisecond), leaseTTL, tick, pendVid)
	noPasswordIn(t, w.password, f.srv.LogPath)
}

// holderPid is the process id in the holder of a secret's rotation lease
// (host:pid:uuid), -1 when nobody holds it.
func holderPid(w *world, name string) int {
	var holder string
	w.store.Read(context.Background(), func(tx *db.Tx) error {
		var err error
		holder, err = tx.LeaseHolder("rotate:"+name, time.Now())
		return err
	})
	parts := strings.Split(holder, ":")
	if len(parts) != 3 {
		return -1
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil {
		return -1
	}
	return pid
}
