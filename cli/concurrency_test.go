package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"kmsconsole/db"
	"kmsconsole/db/dbtest"
	"kmsconsole/model"
	"kmsconsole/service"
)

const hammerRounds = 40

// hammer puts versions and moves ACSCurrent, reporting each outcome as a
// line: "PUT <vid>", "MOVE <vid>" or "ERR <code> <message>".
func hammer(svc *service.Service, worker string, report func(string)) {
	ctx := context.Background()
	var mine []string
	for i := 0; i < hammerRounds; i++ {
		vid := fmt.Sprintf("%s-%d", worker, i)
		stages := []string{model.StageCurrent}
		if i%3 == 1 {
			stages = []string{"Candidate"}
		}
		if _, err := svc.PutSecretValue(ctx, service.PutSecretValueRequest{SecretName: "shared", VersionId: vid, SecretData: "value of " + vid, VersionStages: stages}); err != nil {
			ae := model.AsAPIError(err)
			report("ERR " + ae.Code + " " + ae.Message)
			continue
		}
		report("PUT " + vid)
		mine = append(mine, vid)
		if i%4 == 3 {
			target := mine[len(mine)-2]
			_, err := svc.UpdateSecretVersionStage(ctx, service.UpdateSecretVersionStageRequest{SecretName: "shared", VersionStage: model.StageCurrent, MoveToVersion: target})
			if err != nil {
				ae := model.AsAPIError(err)
				// Another writer may have evicted an old deprecated
				// version meanwhile: that refusal is correct.
				if ae.Code == model.CodeNotFound {
					report("GONE " + target)
					continue
				}
				report("ERR " + ae.Code + " " + ae.Message)
				continue
			}
			report("MOVE " + target)
		}
	}
}

// TestHammerChild is the body of the separate processes; it does nothing
// unless started by TestConcurrentWritersAcrossProcesses.
func TestHammerChild(t *testing.T) {
	path := os.Getenv("KMSCONSOLE_HAMMER_DB")
	if path == "" {
		t.Skip("helper process only")
	}
	store, err := db.Open(path, "")
	if err != nil {
		fmt.Println("ERR open", err)
		return
	}
	defer store.Close()
	svc := service.New(store, service.Options{Actor: service.Actor{Name: "proc", Role: model.RoleAdmin}})
	hammer(svc, os.Getenv("KMSCONSOLE_HAMMER_WORKER"), func(s string) { fmt.Println(s) })
}

func TestConcurrentWritersAcrossProcesses(t *testing.T) {
	p := dbtest.Locator(t)
	mustRun(t, p, "kms", "CreateSecret", "--SecretName", "shared", "--SecretData", "initial", "--VersionId", "v0")

	var mu sync.Mutex
	var lines []string
	report := func(s string) { mu.Lock(); lines = append(lines, s); mu.Unlock() }

	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHammerChild$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "KMSCONSOLE_HAMMER_DB="+p, fmt.Sprintf("KMSCONSOLE_HAMMER_WORKER=proc%d", i))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				l := sc.Text()
				if strings.HasPrefix(l, "PUT ") || strings.HasPrefix(l, "MOVE ") || strings.HasPrefix(l, "GONE ") || strings.HasPrefix(l, "ERR ") {
					report(l)
				}
			}
			if err := cmd.Wait(); err != nil {
				report("ERR process " + err.Error())
			}
		}()
	}
	store, err := db.Open(p, "")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc := service.New(store, service.Options{Actor: service.Actor{Name: "goroutines", Role: model.RoleAdmin}})
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hammer(svc, fmt.Sprintf("g%d", g), report)
		}()
	}
	wg.Wait()

	puts := map[string]bool{}
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "ERR"):
			t.Errorf("a writer saw an error: %s", l)
		case strings.HasPrefix(l, "PUT "):
			puts[strings.TrimPrefix(l, "PUT ")] = true
		}
	}
	wantPuts := 10 * hammerRounds
	if len(puts) != wantPuts {
		t.Fatalf("%d puts succeeded, want %d", len(puts), wantPuts)
	}
	ctx := context.Background()
	err = store.Read(ctx, func(tx *db.Tx) error {
		sec, err := tx.SecretByName("shared")
		if err != nil {
			return err
		}
		labels, err := tx.Labels(sec.ID)
		if err != nil {
			return err
		}
		versions, err := tx.Versions(sec.ID)
		if err != nil {
			return err
		}
		present := map[string]bool{}
		for _, v := range versions {
			present[v.VersionId] = true
			if v.VersionId != "v0" && !puts[v.VersionId] {
				t.Errorf("version %s exists but no writer put it", v.VersionId)
			}
			// Every version still decrypts to what its writer put.
			val, err := tx.Version(sec, v.VersionId)
			if err != nil {
				return err
			}
			if v.VersionId != "v0" && val.Data != "value of "+v.VersionId {
				t.Errorf("version %s holds another writer's data", v.VersionId)
			}
		}
		if cur, ok := labels[model.StageCurrent]; !ok || !present[cur] {
			t.Errorf("ACSCurrent %q missing or on a missing version", cur)
		}
		if prev, ok := labels[model.StagePrevious]; ok && !present[prev] {
			t.Errorf("ACSPrevious on a missing version %s", prev)
		}
		if len(versions) > model.MaxVersions {
			t.Errorf("%d versions kept", len(versions))
		}
		// No lost write: the version counter saw every insert exactly once.
		var seq int64
		for _, v := range versions {
			seq = max(seq, v.Seq)
		}
		if seq != int64(wantPuts+1) {
			t.Errorf("highest version seq %d, want %d (a write was lost or doubled)", seq, wantPuts+1)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	events, err := svc.Audit(ctx, 0, "PutSecretValue")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(events); n != wantPuts {
		t.Errorf("%d PutSecretValue audit events, want %d", n, wantPuts)
	}
}
