package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"kmsconsole/model"
	"kmsconsole/service"
)

// `kmsconsole rotate`: many managed ECS secrets rotated at once by the
// service's fleet engine, with three ways to show it — a live progress view
// on a terminal, a plain line per secret otherwise, JSON lines with --json.

// maxRotateParallel is the most --parallel and --per-host accept: the
// fleet engine's own cap (service.maxFleetParallel), refused here rather
// than silently lowered.
const maxRotateParallel = 256

// rotateArgs is a parsed `kmsconsole rotate` command line.
type rotateArgs struct {
	sel      service.FleetSelection
	dryRun   bool
	json     bool
	parallel int
	perHost  int
	// adminKeys: the items are instances' admin keys (instance
	// rotate-admin-key --all), not secrets.
	adminKeys bool
}

// rotateCommand is `kmsconsole rotate [NAME ...] [--all] [--instance ID]...
// [--filter TEXT] [--dry-run] [--parallel N] [--per-host M] [--json]`.
func rotateCommand() *Command {
	return &Command{
		Name: "rotate", Params: "[NAME ...]", Remote: true, Run: rotate,
		Summary: "Rotate many managed ECS secrets of the region at once.",
		Flags: []Flag{
			{Name: "all", Switch: true, Usage: "every managed ECS secret of the region"},
			{Name: "instance", Value: "ID", Repeat: true, Usage: "those on instance ID"},
			{Name: "filter", Value: "TEXT", Usage: "those whose name contains TEXT"},
			{Name: "dry-run", Switch: true, Usage: "list what would rotate (name, instance, subtype); change nothing"},
			{Name: "parallel", Value: "N", Default: strconv.Itoa(service.DefaultFleetParallel), Usage: fmt.Sprintf("rotations at once, 1-%d", maxRotateParallel)},
			{Name: "per-host", Value: "M", Default: strconv.Itoa(service.DefaultFleetPerHost), Usage: fmt.Sprintf("rotations at once on one instance, 1-%d", maxRotateParallel)},
			{Name: "json", Switch: true, Usage: "one JSON line per secret as it finishes (SecretName, InstanceId, VersionId, Result, FailedStep, Code, Reason, Ms, RemovedKeyLines for key pairs), then a Summary line"},
		},
		Help: `Each secret goes through create, set, test, finish as RotateSecret does (a
rotation a crash left half-way is settled first). Select secrets by NAME, or
with --all, --instance and --filter (the last two narrow --all). Values are
never printed.

On a terminal a live view shows progress, the ok / failed / running counts and an
ETA, then a table of results; otherwise one line per secret as it finishes, then
a summary line. Exit status 0 when every selected secret rotated (and for a dry
run), 1 otherwise. Result is Success, Failure or NotStarted.

Ctrl+C, SIGINT or SIGTERM: no new rotation starts, the running ones finish (a
rotation is never cut short; further signals only say what is awaited), then the
results are printed and the status is 1 if any secret did not rotate. Over serve
('ssh -p 2222 HOST rotate --all') closing the session does the same; the
operator needs the admin role.
`,
	}
}

func rotateArgsOf(a *Args) (rotateArgs, error) {
	ra := rotateArgs{dryRun: a.Switch("dry-run"), json: a.Switch("json")}
	ra.sel.Names = a.Params
	ra.sel.All = a.Switch("all")
	for _, id := range a.Values("instance") {
		if id == "" {
			return ra, model.InvalidParam("instance", "--instance needs an instance id")
		}
		ra.sel.Instances = append(ra.sel.Instances, id)
	}
	if a.Given("filter") && a.Value("filter") == "" {
		return ra, model.InvalidParam("filter", "--filter needs a non-empty part of a secret name")
	}
	ra.sel.Filter = a.Value("filter")
	for _, p := range []struct {
		name string
		n    *int
	}{{"parallel", &ra.parallel}, {"per-host", &ra.perHost}} {
		v := a.Value(p.name)
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxRotateParallel {
			return ra, model.InvalidParam(p.name, "--%s must be a whole number from 1 to %d, got %q", p.name, maxRotateParallel, v)
		}
		*p.n = n
	}
	return ra, nil
}

// rotate runs `kmsconsole rotate`. It exits 0 only when every selected
// secret rotated (or for a dry run).
func rotate(env *Env, a *Args) int {
	ra, err := rotateArgsOf(a)
	if err != nil {
		return env.Fail(err)
	}
	base := env.Context
	if base == nil {
		base = context.Background()
	}
	ctx, cancel := context.WithCancel(base)
	defer cancel()
	exit := 0
	if code := env.WithService(func(svc *service.Service) error {
		items, err := svc.SelectFleet(ctx, ra.sel)
		if err != nil {
			return err
		}
		if ra.dryRun {
			env.printDryRun(svc, items, ra.json)
			return nil
		}
		if len(items) > 0 && !svc.CanMutate() {
			a := svc.Actor()
			return model.Errorf(model.CodeNoPermission, "operator %s (role %s) may not rotate secrets", a.Name, a.Role)
		}
		exit = env.rotateFleet(ctx, cancel, svc, items, ra)
		return nil
	}); code != 0 {
		return code
	}
	return exit
}

func (env *Env) printDryRun(svc *service.Service, items []service.FleetItem, asJSON bool) {
	if asJSON {
		for _, it := range items {
			writeJSONLine(env.Stdout, it)
		}
		writeJSONLine(env.Stdout, map[string]any{"Summary": map[string]any{"Total": len(items), "DryRun": true}})
		return
	}
	if len(items) == 0 {
		fmt.Fprintf(env.Stdout, "no managed ECS secret in region %s matches; nothing would rotate (dry run)\n", svc.Region())
		return
	}
	nameW, instW := columnWidths(items)
	fmt.Fprintf(env.Stdout, "%-*s  %-*s  %s\n", nameW, "SECRET", instW, "INSTANCE", "SUBTYPE")
	for _, it := range items {
		fmt.Fprintf(env.Stdout, "%-*s  %-*s  %s\n", nameW, model.SafeText(it.SecretName), instW, model.SafeText(it.InstanceId), model.SafeText(it.SecretSubType))
	}
	fmt.Fprintf(env.Stdout, "%d secret(s) would rotate; dry run: nothing changed\n", len(items))
}

// rotateFleet runs the batch and reports it; it returns the exit status.
func (env *Env) rotateFleet(ctx context.Context, cancel context.CancelFunc, svc *service.Service, items []service.FleetItem, ra rotateArgs) int {
	fr := newFleetRun(items, cancel)
	fr.adminKeys = ra.adminKeys
	tty := !ra.json && IsTerminal(env.Stdout)
	// The live view shows interruptions itself; otherwise (or when stderr
	// is not that terminal) stderr says what the batch waits for.
	if !tty || !IsTerminal(env.Stderr) {
		prefix := "kmsconsole rotate: "
		if ra.adminKeys {
			prefix = "kmsconsole instance rotate-admin-key: "
		}
		fr.notify = func(msg string) { fmt.Fprintln(env.Stderr, prefix+msg) }
	}
	// A local process stops on its own signals; over serve the session's
	// context (env.Context) stops the batch.
	if env.Context == nil {
		stop := fr.handleSignals()
		defer stop()
	}
	opts := service.FleetOptions{Parallel: ra.parallel, PerHost: ra.perHost, OnStep: fr.onStep, OnDone: fr.onDone}

	var results []service.FleetResult
	switch {
	case ra.json:
		fr.onEnd = func(_ int, r service.FleetResult) { writeJSONLine(env.Stdout, resultLineOf(r)) }
		results = svc.RotateFleet(ctx, items, opts)
		writeJSONLine(env.Stdout, map[string]any{"Summary": fr.summary()})
	case tty:
		results = env.rotateInTerminal(ctx, svc, items, opts, fr, ra)
	default:
		nameW, instW := columnWidths(items)
		fr.onEnd = func(_ int, r service.FleetResult) { fmt.Fprintln(env.Stdout, plainResultLine(r, nameW, instW)) }
		results = svc.RotateFleet(ctx, items, opts)
		fmt.Fprintln(env.Stdout, fr.summary().text(svc.Region()))
	}
	for _, r := range results {
		if r.Result != service.FleetSuccess {
			return 1
		}
	}
	return 0
}

// fleetRun follows one batch: which item runs which step, what ended how.
// The engine's callbacks feed it; the outputs and the signal handler read it.
type fleetRun struct {
	mu         sync.Mutex
	items      []service.FleetItem
	start      time.Time
	step       []string // the step an item is at; "" before it starts
	ended      []bool
	running    int
	ok, failed int
	notStarted int
	interrupts int
	stopped    bool // the batch stopped early (a signal, a closed SSH session)
	adminKeys  bool // the items are instances' admin keys
	cancel     context.CancelFunc
	// onEnd reports one finished item (under mu, so lines never mix).
	onEnd func(i int, r service.FleetResult)
	// notify tells the operator about interruptions; nil when the live
	// view says it.
	notify func(msg string)
}

func newFleetRun(items []service.FleetItem, cancel context.CancelFunc) *fleetRun {
	return &fleetRun{items: items, start: time.Now(), step: make([]string, len(items)), ended: make([]bool, len(items)), cancel: cancel}
}

func (f *fleetRun) onStep(i int, step string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended[i] {
		return
	}
	if f.step[i] == "" {
		f.running++
	}
	f.step[i] = step
}

func (f *fleetRun) onDone(i int, r service.FleetResult) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended[i] {
		return
	}
	if f.step[i] != "" {
		f.running--
	}
	f.ended[i] = true
	switch r.Result {
	case service.FleetSuccess:
		f.ok++
	case service.FleetNotStarted:
		f.notStarted++
		f.stopped = true // only a stopped batch leaves secrets unstarted
	default:
		f.failed++
	}
	if f.onEnd != nil {
		f.onEnd(i, r)
	}
}

// interrupt stops new rotations from starting (the first time) and says
// what the batch is waiting for. Running rotations always finish.
func (f *fleetRun) interrupt() {
	f.mu.Lock()
	f.interrupts++
	n, running, notify := f.interrupts, f.running, f.notify
	f.mu.Unlock()
	if n == 1 {
		f.cancel()
	}
	if notify != nil {
		notify(interruptText(n, running))
	}
}

func interruptText(n, running int) string {
	if n == 1 {
		return fmt.Sprintf("interrupted: no new rotation starts; waiting for %d running to finish (a rotation is never cut short)", running)
	}
	return fmt.Sprintf("still waiting for %d running rotation(s) to finish; they are never cut short (after kill -9 the next run settles them)", running)
}

// handleSignals turns SIGINT, SIGTERM and SIGHUP (the terminal went away)
// into interrupt, for as long as the batch runs: a second signal only
// repeats what is being waited for.
func (f *fleetRun) handleSignals() (stop func()) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-sigs:
				f.interrupt()
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}

// fleetSummary is the last line of a batch.
type fleetSummary struct {
	Total, Succeeded, Failed, NotStarted int
	Ms                                   int64
	Interrupted                          bool `json:",omitempty"`
	adminKeys                            bool
}

func (f *fleetRun) summary() fleetSummary {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fleetSummary{Total: len(f.items), Succeeded: f.ok, Failed: f.failed, NotStarted: f.notStarted,
		Ms: time.Since(f.start).Milliseconds(), Interrupted: f.interrupts > 0 || f.stopped, adminKeys: f.adminKeys}
}

func (s fleetSummary) text(region string) string {
	noun := "secret(s)"
	if s.adminKeys {
		noun = "admin key(s)"
	}
	if s.Total == 0 {
		if s.adminKeys {
			return fmt.Sprintf("no instance in region %s; nothing rotated", region)
		}
		return fmt.Sprintf("no managed ECS secret in region %s matches; nothing rotated", region)
	}
	t := fmt.Sprintf("%d %s: %d succeeded, %d failed, %d not started in %.1f s",
		s.Total, noun, s.Succeeded, s.Failed, s.NotStarted, float64(s.Ms)/1000)
	if s.Interrupted {
		t += "; interrupted"
	}
	return t
}

// rotateResultLine is one --json line: every field always present (the
// strings empty when they do not apply), so scripts need no defaults.
type rotateResultLine struct {
	SecretName      string
	InstanceId      string
	VersionId       string
	Result          string
	FailedStep      string
	Code            string `json:",omitempty"`
	Reason          string
	Ms              int64
	RemovedKeyLines *int   `json:",omitempty"`
	Warning         string `json:",omitempty"`
	// An admin key's line (SecretName and VersionId empty): its Kind and
	// the new key's fingerprint.
	Kind        string `json:",omitempty"`
	Fingerprint string `json:",omitempty"`
}

func resultLineOf(r service.FleetResult) rotateResultLine {
	return rotateResultLine{SecretName: r.SecretName, InstanceId: r.InstanceId, VersionId: r.VersionId, Result: r.Result,
		FailedStep: r.FailedStep, Code: r.Code, Reason: r.Reason, Ms: r.Ms, RemovedKeyLines: r.RemovedKeyLines, Warning: r.Warning,
		Kind: r.Kind, Fingerprint: r.Fingerprint}
}

// writeJSONLine writes v as one compact JSON line, < > & kept as given.
func writeJSONLine(w io.Writer, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(w, "{\"Code\":\"InternalFailure\",\"Message\":%q}\n", err.Error())
		return
	}
	w.Write(b.Bytes())
}

// resultWord names a result in text output.
func resultWord(r string) string {
	switch r {
	case service.FleetSuccess:
		return "ok"
	case service.FleetNotStarted:
		return "not started"
	}
	return "FAILED"
}

// resultDetail is what a text line says after the timing.
func resultDetail(r service.FleetResult) string {
	var d string
	switch r.Result {
	case service.FleetSuccess:
		d = "version " + r.VersionId
		if r.Kind == service.FleetAdminKey {
			d = "new key " + r.Fingerprint
		}
		if r.RemovedKeyLines != nil {
			d += fmt.Sprintf("; %d old key line(s) removed", *r.RemovedKeyLines)
		}
		if r.Warning != "" {
			d += "; warning: " + r.Warning
		}
	case service.FleetNotStarted:
		d = r.Reason
	default:
		// The engine's reasons usually name the step already.
		d = r.Reason
		if r.FailedStep != "" && !strings.Contains(d, "at "+r.FailedStep) {
			d = "at " + r.FailedStep + ": " + d
		}
	}
	return model.SafeText(d)
}

func plainResultLine(r service.FleetResult, nameW, instW int) string {
	ms := ""
	if r.Result != service.FleetNotStarted {
		ms = strconv.FormatInt(r.Ms, 10) + " ms"
	}
	return fmt.Sprintf("%-11s  %-*s  %-*s  %9s  %s", resultWord(r.Result), nameW, model.SafeText(r.Label()), instW, model.SafeText(r.InstanceId), ms, resultDetail(r))
}

// columnWidths fits the name and instance columns to the selection.
func columnWidths(items []service.FleetItem) (nameW, instW int) {
	nameW, instW = len("SECRET"), len("INSTANCE")
	for _, it := range items {
		nameW = max(nameW, utf8.RuneCountInString(model.SafeText(it.Label())))
		instW = max(instW, utf8.RuneCountInString(model.SafeText(it.InstanceId)))
	}
	return min(nameW, 64), min(instW, 32)
}
