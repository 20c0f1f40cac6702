package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"kmsconsole/ecs/sshdtest"
	"kmsconsole/model"
)

// BenchmarkFleetVsFloor times a fleet password rotation (issue 9): ONE
// `kmsconsole rotate --all --json` process over BENCH_SECRETS (default 100)
// secrets on 20 real sshd hosts, against the floor an operator would
// hand-write: testdata/rotatefloor (x/crypto: admin login, `sudo -n
// chpasswd` on stdin, fresh verification login as the user, one process
// per secret) run by `xargs -P 8` over the same (host, user) pairs. The
// batches are interleaved for BENCH_ROUNDS (default 3) rounds, the floor's
// place in the order moving each round. Reported: ratio = kmsconsole
// seconds / floor seconds per round and their median (goal <= 0.8), the
// seconds of each, rotations per second, the admin logins the hosts
// accepted, and CPU seconds of kmsconsole, of the floor and of all the sshd
// (with the sudo/chpasswd they run); cpu-ratio compares the CPU each side
// cost (itself + its sshd), steadier than wall time when other work shares
// the machine. Any failed rotation fails the benchmark. Round by round
// figures go to stdout, prefixed "fleetbench: ".
//
// Knobs (environment): BENCH_SECRETS, BENCH_HOSTS (default 20),
// BENCH_ROUNDS, BENCH_PARALLEL and BENCH_PER_HOST (passed to rotate as
// --parallel/--per-host when set; comma-separated lists time each
// combination in every round, against the same floor batch),
// BENCH_FLOOR_P (xargs -P, default 8), BENCH_FLOOR=off (time kmsconsole
// only, e.g. at 1,000 secrets), BENCH_KMS=process (time `xargs -P 8
// kmsconsole kms RotateSecret`, one process per secret, instead of `rotate
// --all`), BENCH_SSHD_LOGLEVEL (default INFO, as on a real host, and the
// level whose "Accepted ..." lines the login counts read; sshdtest's own
// default is DEBUG3).
//
// All hosts share this machine's /etc/passwd and /etc/shadow, so each
// secret has its own user (BENCH_SECRETS/BENCH_HOSTS users per host) and
// every chpasswd, whichever host it runs on, takes the same shadow lock.
func BenchmarkFleetVsFloor(b *testing.B) {
	sshdtest.Require(b)
	// Progress goes straight to stdout: the testing package keeps only
	// the first lines of a benchmark's b.Log output.
	logf := func(format string, args ...any) { fmt.Printf("fleetbench: "+format+"\n", args...) }
	envInt := func(name string, def int) int {
		v := os.Getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("%s=%q: want a positive number", name, v)
		}
		return n
	}
	nSecrets := envInt("BENCH_SECRETS", 100)
	nHosts := min(envInt("BENCH_HOSTS", 20), nSecrets)
	rounds := envInt("BENCH_ROUNDS", 3) * b.N
	floorP := envInt("BENCH_FLOOR_P", 8)
	kmsMode := os.Getenv("BENCH_KMS")
	if kmsMode == "" {
		kmsMode = "fleet"
	}
	if kmsMode != "fleet" && kmsMode != "process" {
		b.Fatalf("BENCH_KMS=%q: want fleet or process", kmsMode)
	}
	noFloor := os.Getenv("BENCH_FLOOR") == "off"
	logLevel := os.Getenv("BENCH_SSHD_LOGLEVEL")
	if logLevel == "" {
		logLevel = "INFO"
	}

	setupStart := time.Now()
	dir := b.TempDir()
	bin := filepath.Join(dir, "kmsconsole")
	floor := filepath.Join(dir, "rotatefloor")
	for target, out := range map[string]string{"kmsconsole": bin, "./testdata/rotatefloor": floor} {
		if out, err := exec.Command("go", "build", "-o", out, target).CombinedOutput(); err != nil {
			b.Fatalf("build %s: %v %s", target, err, out)
		}
	}
	if kmsMode == "fleet" {
		if out, err := exec.Command(bin, "rotate", "--help").CombinedOutput(); err != nil {
			b.Fatalf("`kmsconsole rotate --help` fails (%v): %s\n(BENCH_KMS=process times one RotateSecret process per secret instead)", err, out)
		}
	}

	servers := make([]*sshdtest.Server, nHosts)
	for i := range servers {
		servers[i] = sshdtest.Start(b, sshdtest.Options{ExtraConfig: []string{"LogLevel " + logLevel}})
	}
	admin, adminKey := sshdtest.CreateAdmin(b)
	keyFile := filepath.Join(dir, "admin_key")
	if err := os.WriteFile(keyFile, adminKey, 0o600); err != nil {
		b.Fatal(err)
	}
	passwords := make([]string, nSecrets)
	for i := range passwords {
		passwords[i], _ = model.RandomPassword(model.DefaultPasswordOptions())
	}
	usersStart := time.Now()
	users := sshdtest.CreateUsers(b, "fleet", passwords)
	usersTook := time.Since(usersStart)

	dbPath := filepath.Join(dir, "kms.db")
	for h, srv := range servers {
		if _, stderr, code := run(b, dbPath, "instance", "add", "--InstanceId", fmt.Sprintf("i-fleet%02d", h), "--Host", srv.Host,
			"--Port", strconv.Itoa(srv.Port), "--AdminUser", admin, "--AdminKeyFile", keyFile, "--HostKey", srv.HostKey); code != 0 {
			b.Fatal(stderr)
		}
	}
	instancesTook := time.Since(usersStart) - usersTook
	// Secret i is user i on host i % nHosts; the floor gets the same pairs
	// in the same order. CreateSecret checks the user on its host over
	// SSH, so the secrets are created a few at a time.
	secretsStart := time.Now()
	var floorArgs strings.Builder
	names := make([]string, nSecrets)
	for i, user := range users {
		srv := servers[i%nHosts]
		names[i] = "acs/ecs/fleet/" + user
		fmt.Fprintf(&floorArgs, "%s %d \"%s\" %s %s %s\n", srv.Host, srv.Port, srv.HostKey, admin, keyFile, user)
	}
	createErrs := make([]string, nSecrets)
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if _, stderr, code := run(b, dbPath, "kms", "CreateSecret", "--SecretName", names[i], "--SecretType", "ECS",
					"--ExtendedConfig", fmt.Sprintf(`{"SecretSubType":"Password","InstanceId":"i-fleet%02d","RegionId":"cn-hangzhou"}`, i%nHosts),
					"--SecretData", model.ECSData{UserName: users[i], Password: passwords[i]}.JSON()); code != 0 {
					createErrs[i] = stderr
				}
			}
		}()
	}
	for i := range names {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, e := range createErrs {
		if e != "" {
			b.Fatalf("CreateSecret %s: %s", names[i], e)
		}
	}
	secretsTook := time.Since(secretsStart)
	floorArgsFile := filepath.Join(dir, "floor.args")
	namesFile := filepath.Join(dir, "names")
	if err := os.WriteFile(floorArgsFile, []byte(floorArgs.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(namesFile, []byte(strings.Join(names, "\n")+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	logf("setup: %d hosts, %d secrets in %.1fs (users %.1fs, instances %.1fs, secrets %.1fs)", nHosts, nSecrets,
		time.Since(setupStart).Seconds(), usersTook.Seconds(), instancesTook.Seconds(), secretsTook.Seconds())

	// One kmsconsole variant per --parallel x --per-host pair (BENCH_PARALLEL
	// and BENCH_PER_HOST take comma-separated lists; empty: the defaults).
	type variant struct {
		name string
		args []string
	}
	var variants []variant
	if kmsMode == "process" {
		variants = []variant{{fmt.Sprintf("xargs -P %d kmsconsole kms RotateSecret", floorP), nil}}
	} else {
		for _, par := range strings.Split(os.Getenv("BENCH_PARALLEL"), ",") {
			for _, ph := range strings.Split(os.Getenv("BENCH_PER_HOST"), ",") {
				args := []string{"rotate", "--all", "--json"}
				if par != "" {
					args = append(args, "--parallel", par)
				}
				if ph != "" {
					args = append(args, "--per-host", ph)
				}
				variants = append(variants, variant{"kmsconsole " + strings.Join(args, " "), args})
			}
		}
	}

	// sshd's listener reaps its per-connection processes (which wait for
	// their sessions' sudo and chpasswd): its cutime+cstime is the CPU the
	// hosts spent.
	sshdPids := make([]int, nHosts)
	for i, srv := range servers {
		p, err := os.ReadFile(filepath.Join(srv.Dir, "sshd.pid"))
		if err != nil {
			b.Fatal(err)
		}
		sshdPids[i], _ = strconv.Atoi(strings.TrimSpace(string(p)))
	}
	sshdCPU := func() float64 {
		var ticks int64
		for _, pid := range sshdPids {
			ticks += fleetBenchChildTicks(b, pid)
		}
		return float64(ticks) / 100 // USER_HZ
	}
	logSizes := func() []int64 {
		out := make([]int64, nHosts)
		for i, srv := range servers {
			if fi, err := os.Stat(srv.LogPath); err == nil {
				out[i] = fi.Size()
			}
		}
		return out
	}
	// logins counts the hosts' accepted logins since offsets (sshd logs
	// them at INFO): admin (public key) and user (password) logins.
	logins := func(offsets []int64) (admin, user int) {
		for i, srv := range servers {
			raw, _ := os.ReadFile(srv.LogPath)
			if int64(len(raw)) > offsets[i] {
				raw = raw[offsets[i]:]
			}
			admin += bytes.Count(raw, []byte("Accepted publickey for "))
			user += bytes.Count(raw, []byte("Accepted password for ")) + bytes.Count(raw, []byte("Accepted keyboard-interactive"))
		}
		return admin, user
	}

	type batch struct {
		wall, cpu, sshdCPU, busy float64 // seconds; busy = machine CPU seconds
		settle                   float64 // seconds the hosts took to close the batch's connections after it
		adminLogins, userLogins  int
		latencies                []float64
	}
	runBatch := func(cmd *exec.Cmd, check func(stdout []byte, err error) ([]float64, error)) batch {
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Env = append(os.Environ(), "KMSCONSOLE_DB="+dbPath)
		s0, m0, l0 := sshdCPU(), fleetBenchMachineBusy(b), logSizes()
		start := time.Now()
		err := cmd.Run()
		wall := time.Since(start).Seconds()
		// Wait for the hosts to finish tearing down the batch's connections
		// (a client does not wait for that, but it costs CPU that must
		// neither slow the next batch nor be counted for it).
		settle := time.Now()
		for fleetBenchConnections(sshdPids) > 0 && time.Since(settle) < time.Minute {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		s1, m1 := sshdCPU(), fleetBenchMachineBusy(b)
		lat, cerr := check(stdout.Bytes(), err)
		if cerr != nil {
			b.Fatalf("%s: %v\nstderr: %s", cmd.Args, cerr, fleetBenchTail(stderr.String(), 2000))
		}
		ps := cmd.ProcessState
		al, ul := logins(l0)
		return batch{wall: wall, cpu: (ps.UserTime() + ps.SystemTime()).Seconds(), sshdCPU: s1 - s0, busy: m1 - m0,
			settle: time.Since(settle).Seconds(), adminLogins: al, userLogins: ul, latencies: lat}
	}
	kmsBatch := func(v variant) batch {
		if kmsMode == "process" {
			cmd := exec.Command("bash", "-c", `xargs -P "$1" -I{} "$2" kms RotateSecret --SecretName {} >/dev/null < "$3"`, "bash",
				strconv.Itoa(floorP), bin, namesFile)
			return runBatch(cmd, func(_ []byte, err error) ([]float64, error) { return nil, err })
		}
		return runBatch(exec.Command(bin, v.args...), func(out []byte, err error) ([]float64, error) {
			return fleetBenchCheckOutput(out, err, nSecrets)
		})
	}
	floorBatch := func() batch {
		cmd := exec.Command("bash", "-c", `xargs -P "$1" -L 1 "$2" < "$3"`, "bash", strconv.Itoa(floorP), floor, floorArgsFile)
		return runBatch(cmd, func(_ []byte, err error) ([]float64, error) {
			if err != nil {
				return nil, fmt.Errorf("floor batch failed: %v", err)
			}
			return nil, nil
		})
	}

	median := func(v []float64) float64 {
		s := slices.Clone(v)
		slices.Sort(s)
		if len(s)%2 == 0 {
			return (s[len(s)/2-1] + s[len(s)/2]) / 2
		}
		return s[len(s)/2]
	}
	describe := func(x batch) string {
		return fmt.Sprintf("%.2fs (%.2f rot/s; cpu %.2fs, sshd cpu %.2fs = %.0f ms/rotation, machine %.2f cores; logins admin %d user %d; hosts idle %.1fs later)",
			x.wall, float64(nSecrets)/x.wall, x.cpu, x.sshdCPU, x.sshdCPU*1000/float64(nSecrets), x.busy/x.wall, x.adminLogins, x.userLogins, x.settle)
	}
	logLatencies := func(r int, name string, k batch) {
		if len(k.latencies) > 0 {
			l := slices.Clone(k.latencies)
			slices.Sort(l)
			logf("round %d: %s: per-rotation ms: min %.0f median %.0f p90 %.0f max %.0f", r+1, name, l[0], l[len(l)/2], l[len(l)*9/10], l[len(l)-1])
		}
	}

	// Per variant: wall ratio and CPU ratio to the same round's floor.
	// The CPU ratio, (kmsconsole + its sshd CPU) / (floor + its sshd CPU),
	// is what the wall ratio tends to when the machine is CPU-bound and
	// nothing else runs; it is steadier on a shared machine.
	ks := make([][]batch, len(variants))
	var fs []batch
	ratios := make([][]float64, len(variants))
	cpuRatios := make([][]float64, len(variants))
	b.ResetTimer()
	for r := 0; r < rounds; r++ {
		if noFloor {
			for vi, v := range variants {
				k := kmsBatch(v)
				ks[vi] = append(ks[vi], k)
				logf("round %d: %s: %s", r+1, v.name, describe(k))
				logLatencies(r, v.name, k)
			}
			continue
		}
		// The floor's place in the order moves each round.
		order := make([]int, 0, len(variants)+1) // -1 is the floor
		for vi := range variants {
			order = append(order, vi)
		}
		pos := r % (len(variants) + 1)
		order = slices.Insert(order, pos, -1)
		got := make([]batch, len(variants))
		var f batch
		for _, vi := range order {
			if vi < 0 {
				f = floorBatch()
			} else {
				got[vi] = kmsBatch(variants[vi])
			}
		}
		fs = append(fs, f)
		load, _ := os.ReadFile("/proc/loadavg")
		logf("round %d: floor (xargs -P %d rotatefloor): %s | loadavg %s", r+1, floorP, describe(f), strings.Join(strings.Fields(string(load))[:3], " "))
		for vi, v := range variants {
			k := got[vi]
			ks[vi] = append(ks[vi], k)
			ratios[vi] = append(ratios[vi], k.wall/f.wall)
			cpuRatios[vi] = append(cpuRatios[vi], (k.cpu+k.sshdCPU)/(f.cpu+f.sshdCPU))
			logf("round %d: %s: %s | ratio %.3f, cpu ratio %.3f", r+1, v.name, describe(k), k.wall/f.wall, (k.cpu+k.sshdCPU)/(f.cpu+f.sshdCPU))
			logLatencies(r, v.name, k)
		}
	}
	b.StopTimer()

	col := func(bs []batch, f func(batch) float64) float64 {
		out := make([]float64, len(bs))
		for i, x := range bs {
			out[i] = f(x)
		}
		return median(out)
	}
	wall := func(x batch) float64 { return x.wall }
	for vi, v := range variants {
		// The first variant's metrics have plain names; others are suffixed
		// with their flags, e.g. ratio-p8-h2.
		suffix := ""
		if vi > 0 || len(variants) > 1 {
			suffix = fleetBenchSuffix(v.args)
		}
		k := ks[vi]
		b.ReportMetric(col(k, wall), "kms-s"+suffix)
		b.ReportMetric(float64(nSecrets)/col(k, wall), "kms-rot/s"+suffix)
		b.ReportMetric(col(k, func(x batch) float64 { return x.cpu }), "kms-cpu-s"+suffix)
		b.ReportMetric(col(k, func(x batch) float64 { return x.sshdCPU }), "kms-sshd-cpu-s"+suffix)
		b.ReportMetric(col(k, func(x batch) float64 { return float64(x.adminLogins) }), "kms-admin-logins"+suffix)
		if noFloor {
			continue
		}
		b.ReportMetric(median(ratios[vi]), "ratio"+suffix)
		b.ReportMetric(median(cpuRatios[vi]), "cpu-ratio"+suffix)
		for i := range ratios[vi] {
			b.ReportMetric(ratios[vi][i], fmt.Sprintf("ratio%s-r%d", suffix, i+1))
			b.ReportMetric(k[i].wall, fmt.Sprintf("kms-s%s-r%d", suffix, i+1))
			b.ReportMetric(cpuRatios[vi][i], fmt.Sprintf("cpu-ratio%s-r%d", suffix, i+1))
		}
		logf("%s vs xargs -P %d rotatefloor: median ratio %.3f (goal <= 0.8), median cpu ratio %.3f, over %d rounds",
			v.name, floorP, median(ratios[vi]), median(cpuRatios[vi]), rounds)
	}
	if !noFloor {
		b.ReportMetric(col(fs, wall), "floor-s")
		b.ReportMetric(float64(nSecrets)/col(fs, wall), "floor-rot/s")
		b.ReportMetric(col(fs, func(x batch) float64 { return x.cpu }), "floor-cpu-s")
		b.ReportMetric(col(fs, func(x batch) float64 { return x.sshdCPU }), "floor-sshd-cpu-s")
		for i, f := range fs {
			b.ReportMetric(f.wall, fmt.Sprintf("floor-s-r%d", i+1))
		}
	}
	b.ReportMetric(float64(nSecrets), "secrets")
	b.ReportMetric(float64(nHosts), "hosts")
}

// fleetBenchSuffix names a variant's metrics by its flags: "-p8-h2".
func fleetBenchSuffix(args []string) string {
	s := ""
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--parallel":
			s += "-p" + args[i+1]
		case "--per-host":
			s += "-h" + args[i+1]
		}
	}
	if s == "" {
		s = "-default"
	}
	return s
}

// fleetBenchCheckOutput checks `kmsconsole rotate --all --json`: exit 0, n
// per-secret lines all with Result "Success", and a Summary line with n
// succeeded, none failed or not started. It returns each rotation's Ms.
func fleetBenchCheckOutput(out []byte, runErr error, n int) ([]float64, error) {
	var ok, failed int
	var lat []float64
	var summary []string
	sawSummary, summaryBad := false, false
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			return nil, fmt.Errorf("not a JSON line: %q", fleetBenchTail(string(line), 300))
		}
		if sm, isSummary := m["Summary"].(map[string]any); isSummary {
			sawSummary = true
			summary = append(summary, string(line))
			if sm["Succeeded"] != float64(n) || sm["Failed"] != float64(0) || sm["NotStarted"] != float64(0) {
				summaryBad = true
			}
			continue
		}
		if _, isItem := m["SecretName"]; !isItem {
			return nil, fmt.Errorf("unexpected line: %q", fleetBenchTail(string(line), 300))
		}
		if m["Result"] == "Success" {
			ok++
			if ms, isNum := m["Ms"].(float64); isNum {
				lat = append(lat, ms)
			}
		} else {
			failed++
			if failed <= 3 {
				summary = append(summary, string(line))
			}
		}
	}
	if runErr != nil || ok != n || failed != 0 || !sawSummary || summaryBad {
		return nil, fmt.Errorf("rotate: exit %v, %d succeeded, %d not, want %d: %s", runErr, ok, failed, n, strings.Join(summary, "\n"))
	}
	return lat, nil
}

// fleetBenchChildTicks is the CPU (user+system, clock ticks) of pid's reaped children.
func fleetBenchChildTicks(t testing.TB, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("sshd %d: %v", pid, err)
	}
	i := bytes.LastIndexByte(raw, ')')
	f := strings.Fields(string(raw[i+2:]))
	// Fields after the command: state is f[0]; cutime, cstime are stat
	// fields 16 and 17, i.e. f[13] and f[14].
	cu, _ := strconv.ParseInt(f[13], 10, 64)
	cs, _ := strconv.ParseInt(f[14], 10, 64)
	return cu + cs
}

// fleetBenchConnections counts the processes sshd listeners pids have
// forked that still run (one per open or closing connection).
func fleetBenchConnections(pids []int) int {
	listeners := map[string]bool{}
	for _, p := range pids {
		listeners[strconv.Itoa(p)] = true
	}
	n := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		raw, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(raw, ')')
		if i < 0 || i+2 > len(raw) {
			continue
		}
		if f := strings.Fields(string(raw[i+2:])); len(f) > 1 && listeners[f[1]] {
			n++
		}
	}
	return n
}

// fleetBenchMachineBusy is the machine's non-idle CPU time so far, in seconds.
func fleetBenchMachineBusy(t testing.TB) float64 {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)[1:]
	var busy int64
	for i, v := range f {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i == 3 || i == 4 || i >= 7 { // idle, iowait, steal; guest time is already in user
			continue
		}
		busy += n
	}
	return float64(busy) / 100
}

func fleetBenchTail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
