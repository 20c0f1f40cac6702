package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"kmsconsole/ecs/sshdtest"
	"kmsconsole/model"
)

// BenchmarkRotateVsOpenSSHScript times one password rotation from the
// command to verified: `kmsconsole kms RotateSecret` (a whole process:
// store write, management login, chpasswd, fresh verification login,
// promotion) against the OpenSSH script an operator would write (ssh as
// admin running `sudo -n chpasswd` on stdin, then sshpass + ssh logging in
// with the new password). Runs are interleaved on the same sshd; the
// reported ratio is median(kmsconsole) / median(script). Goal: <= 0.7.
func BenchmarkRotateVsOpenSSHScript(b *testing.B) {
	sshdtest.Require(b)
	for _, tool := range []string{"ssh", "sshpass"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("%s not installed (the README test command installs it)", tool)
		}
	}
	srv := sshdtest.Start(b, sshdtest.Options{})
	admin, adminKey := sshdtest.CreateAdmin(b)
	initial, _ := model.RandomPassword(model.DefaultPasswordOptions())
	user := sshdtest.CreateUser(b, "bench", initial)
	dir := b.TempDir()
	bin := filepath.Join(dir, "kmsconsole")
	if out, err := exec.Command("go", "build", "-o", bin, "kmsconsole").CombinedOutput(); err != nil {
		b.Fatalf("build: %v %s", err, out)
	}
	dbPath := filepath.Join(dir, "kms.db")
	keyFile := filepath.Join(dir, "admin_key")
	os.WriteFile(keyFile, adminKey, 0o600)
	knownHosts := filepath.Join(dir, "known_hosts")
	os.WriteFile(knownHosts, []byte(fmt.Sprintf("[%s]:%d %s\n", srv.Host, srv.Port, srv.HostKey)), 0o600)
	if _, stderr, code := run(b, dbPath, "instance", "add", "--InstanceId", "i-bench", "--Host", srv.Host, "--Port", strconv.Itoa(srv.Port),
		"--AdminUser", admin, "--AdminKeyFile", keyFile, "--HostKey", srv.HostKey); code != 0 {
		b.Fatal(stderr)
	}
	secret := "acs/ecs/bench/" + user
	if _, stderr, code := run(b, dbPath, "kms", "CreateSecret", "--SecretName", secret, "--SecretType", "ECS",
		"--ExtendedConfig", `{"SecretSubType":"Password","InstanceId":"i-bench","RegionId":"cn-hangzhou"}`,
		"--SecretData", model.ECSData{UserName: user, Password: initial}.JSON()); code != 0 {
		b.Fatal(stderr)
	}
	sshOpts := []string{"-p", strconv.Itoa(srv.Port), "-o", "UserKnownHostsFile=" + knownHosts, "-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=no", "-o", "LogLevel=ERROR"}
	pwFile := filepath.Join(dir, "pw")
	script := func() error {
		pw, _ := model.RandomPassword(model.DefaultPasswordOptions())
		// The operator's script: the new password on stdin of sudo chpasswd...
		set := exec.Command("ssh", append(append([]string{"-i", keyFile, "-o", "BatchMode=yes"}, sshOpts...), admin+"@"+srv.Host, "sudo -n chpasswd")...)
		set.Stdin = strings.NewReader(user + ":" + pw + "\n")
		if out, err := set.CombinedOutput(); err != nil {
			return fmt.Errorf("set: %v %s", err, out)
		}
		// ...then a fresh login with it (sshpass reads it from a 0600 file).
		if err := os.WriteFile(pwFile, []byte(pw), 0o600); err != nil {
			return err
		}
		verify := exec.Command("sshpass", append([]string{"-f", pwFile, "ssh", "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive"},
			append(sshOpts, user+"@"+srv.Host, "true")...)...)
		if out, err := verify.CombinedOutput(); err != nil {
			return fmt.Errorf("verify: %v %s", err, out)
		}
		return nil
	}
	kms := func() error {
		cmd := exec.Command(bin, "kms", "RotateSecret", "--SecretName", secret)
		cmd.Env = append(os.Environ(), "KMSCONSOLE_DB="+dbPath)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("rotate: %v %s", err, out)
		}
		return nil
	}
	var tk, ts []float64
	timeIt := func(fn func() error) float64 {
		start := time.Now()
		if err := fn(); err != nil {
			b.Fatal(err)
		}
		return float64(time.Since(start).Microseconds()) / 1000
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Interleave, alternating which goes first.
		if i%2 == 0 {
			tk = append(tk, timeIt(kms))
			ts = append(ts, timeIt(script))
		} else {
			ts = append(ts, timeIt(script))
			tk = append(tk, timeIt(kms))
		}
	}
	b.StopTimer()
	median := func(v []float64) float64 { s := slices.Clone(v); slices.Sort(s); return s[len(s)/2] }
	b.ReportMetric(median(tk), "kms-ms")
	b.ReportMetric(median(ts), "openssh-ms")
	b.ReportMetric(median(tk)/median(ts), "ratio")
}
