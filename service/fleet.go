package service

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"kmsconsole/db"
	"kmsconsole/model"
)

// Fleet rotation: many managed ECS secrets rotated together, a bounded
// number at a time overall and per host. `kmsconsole rotate`, the same
// command over serve, and the console's fleet action all run this engine,
// so they share its limits and its results.

// Default fleet limits. Per host stays below sshd's MaxStartups 10 (each
// rotation's verification is a fresh login) and the pool's sessions per
// connection.
const (
	DefaultFleetParallel = 16
	DefaultFleetPerHost  = 4
	maxFleetParallel     = 256
)

// FleetSelection chooses the secrets of a fleet rotation, in the service's
// region. Names picks those secrets exactly; otherwise All, Instances and
// Filter select among the region's managed ECS secrets (Instances and
// Filter narrow, All alone takes every one).
type FleetSelection struct {
	Names     []string
	All       bool
	Instances []string
	Filter    string // a substring of the secret name
}

// FleetItem is one secret a fleet rotation covers, or one instance's
// admin key (Kind FleetAdminKey, no SecretName).
type FleetItem struct {
	SecretName    string
	InstanceId    string
	SecretSubType string
	Kind          string `json:",omitempty"`
}

// FleetAdminKey is the Kind of an item that rotates an instance's admin key
// (RotateAdminKey) instead of a secret.
const FleetAdminKey = "AdminKey"

// fleetLabel names an item or result for people.
func fleetLabel(kind, secretName string) string {
	if kind == FleetAdminKey {
		return "admin key"
	}
	return secretName
}

// Label names the item for people: the secret's name, or "admin key".
func (it FleetItem) Label() string { return fleetLabel(it.Kind, it.SecretName) }

// Fleet results.
const (
	FleetSuccess    = "Success"
	FleetFailure    = "Failure"
	FleetNotStarted = "NotStarted"
)

// FleetResult is what became of one secret. It never holds a value.
type FleetResult struct {
	SecretName string
	InstanceId string
	VersionId  string `json:",omitempty"`
	Result     string // Success, Failure or NotStarted
	FailedStep string `json:",omitempty"`
	Code       string `json:",omitempty"`
	Reason     string `json:",omitempty"`
	Ms         int64
	// RemovedKeyLines: key pairs and admin keys, the previous key's lines
	// removed.
	RemovedKeyLines *int   `json:",omitempty"`
	Warning         string `json:",omitempty"`
	// Kind and Fingerprint (of the new key): an admin key's rotation.
	Kind        string `json:",omitempty"`
	Fingerprint string `json:",omitempty"`
}

// Label names the result for people: the secret's name, or "admin key".
func (r FleetResult) Label() string { return fleetLabel(r.Kind, r.SecretName) }

// FleetOptions bound a fleet rotation and report its progress. The
// callbacks run on the engine's goroutines; they must not block for long.
type FleetOptions struct {
	Parallel int // rotations at once overall (default 16)
	PerHost  int // rotations at once on one instance (default 4)
	// OnStep is told each step of item i as it starts.
	OnStep func(i int, step string)
	// OnDone is told each item's result as it ends (NotStarted included).
	OnDone func(i int, r FleetResult)
}

// SelectFleet lists the managed ECS secrets a selection covers, by name.
func (s *Service) SelectFleet(ctx context.Context, sel FleetSelection) ([]FleetItem, error) {
	if len(sel.Names) > 0 && (sel.All || len(sel.Instances) > 0 || sel.Filter != "") {
		return nil, model.InvalidParam("SecretName", "give secret names, or --all / --instance / --filter, not both")
	}
	if len(sel.Names) == 0 && !sel.All && len(sel.Instances) == 0 && sel.Filter == "" {
		return nil, model.Errorf(model.CodeMissingParameter, "nothing selected: give secret names, --all, --instance ID or --filter TEXT")
	}
	for _, n := range sel.Names {
		if err := model.ValidateSecretNameRef(n); err != nil {
			return nil, err
		}
	}
	for _, id := range sel.Instances {
		if err := model.ValidateInstanceId(id); err != nil {
			return nil, err
		}
	}
	var items []FleetItem
	err := s.store.Read(ctx, func(tx *db.Tx) error {
		if len(sel.Names) > 0 {
			seen := map[string]bool{}
			for _, n := range sel.Names {
				if seen[n] {
					continue
				}
				seen[n] = true
				r, err := loadSecret(tx, n, false)
				if err != nil {
					return err
				}
				if r.Type != model.ECS {
					return model.InvalidParam("SecretName", "%s is a generic secret: it has no built-in rotation", n)
				}
				if r.RegionId != s.opts.Region {
					return model.NotFound("The secret %s is in region %s, not %s", n, r.RegionId, s.opts.Region)
				}
				item, err := fleetItemOf(r)
				if err != nil {
					return err
				}
				items = append(items, item)
			}
			return nil
		}
		for _, id := range sel.Instances {
			inst, err := tx.Instance(id)
			if err != nil {
				return err
			}
			if inst == nil || inst.RegionId != s.opts.Region {
				return model.NotFound("The instance %s does not exist in region %s", id, s.opts.Region)
			}
		}
		rows, _, err := tx.ListSecrets(db.SecretFilter{Region: s.opts.Region, Types: []string{string(model.ECS)}})
		if err != nil {
			return err
		}
		for _, r := range rows {
			if r.PendingDeletion() {
				continue
			}
			if len(sel.Instances) > 0 && !slices.Contains(sel.Instances, r.InstanceId) {
				continue
			}
			if sel.Filter != "" && !strings.Contains(r.Name, sel.Filter) {
				continue
			}
			item, err := fleetItemOf(r)
			if err != nil {
				return err
			}
			items = append(items, item)
		}
		return nil
	})
	if err != nil {
		return nil, model.Wrap(err)
	}
	return items, nil
}

func fleetItemOf(r *db.SecretRow) (FleetItem, error) {
	cfg, err := model.ParseECSConfig(r.ExtendedConfig)
	if err != nil {
		return FleetItem{}, err
	}
	return FleetItem{SecretName: r.Name, InstanceId: cfg.InstanceId, SecretSubType: cfg.SecretSubType}, nil
}

// RotateFleet rotates items, at most opts.Parallel at once and
// opts.PerHost at once on one instance, and returns one result per item in
// the items' order. When ctx ends no new rotation starts; those running
// finish (a rotation is never cut short) and the rest are NotStarted.
func (s *Service) RotateFleet(ctx context.Context, items []FleetItem, opts FleetOptions) []FleetResult {
	parallel := opts.Parallel
	if parallel <= 0 {
		parallel = DefaultFleetParallel
	}
	parallel = min(parallel, maxFleetParallel)
	perHost := opts.PerHost
	if perHost <= 0 {
		perHost = DefaultFleetPerHost
	}
	results := make([]FleetResult, len(items))
	done := func(i int, r FleetResult) {
		results[i] = r
		if opts.OnDone != nil {
			opts.OnDone(i, r)
		}
	}
	// Refuse at once, not once per secret, when the actor may not rotate.
	what := "rotate secrets"
	if len(items) > 0 && items[0].Kind == FleetAdminKey {
		what = "rotate admin keys"
	}
	if err := s.requireAdmin(ctx, what); err != nil {
		ae := model.AsAPIError(err)
		for i, it := range items {
			done(i, FleetResult{SecretName: it.SecretName, InstanceId: it.InstanceId, Kind: it.Kind, Result: FleetFailure, Code: ae.Code, Reason: ae.Message})
		}
		return results
	}

	// One dispatcher starts the next waiting item whose host has room, so
	// a host with many secrets never holds up the others.
	type finished struct {
		i int
		r FleetResult
	}
	ended := make(chan finished)
	started := make([]bool, len(items))
	hostBusy := map[string]int{}
	running, remaining := 0, len(items)
	var wg sync.WaitGroup
	for remaining > 0 {
		if ctx.Err() == nil {
			for i := range items {
				if running >= parallel {
					break
				}
				if started[i] || hostBusy[items[i].InstanceId] >= perHost {
					continue
				}
				started[i] = true
				hostBusy[items[i].InstanceId]++
				running++
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					ended <- finished{i, s.rotateFleetItem(ctx, i, items[i], opts)}
				}(i)
			}
		}
		if running == 0 {
			break // interrupted: nothing runs and nothing may start
		}
		select {
		case f := <-ended:
			running--
			remaining--
			hostBusy[items[f.i].InstanceId]--
			done(f.i, f.r)
		case <-ctx.Done():
			// Stop starting; keep collecting what runs.
			f := <-ended
			running--
			remaining--
			hostBusy[items[f.i].InstanceId]--
			done(f.i, f.r)
		}
	}
	wg.Wait()
	for i, it := range items {
		if !started[i] {
			done(i, FleetResult{SecretName: it.SecretName, InstanceId: it.InstanceId, Kind: it.Kind, Result: FleetNotStarted,
				Reason: "interrupted before this rotation started"})
		}
	}
	return results
}

// rotateFleetItem runs one rotation of a fleet. It is not cancelled with
// the fleet: once started, a rotation runs to its end.
func (s *Service) rotateFleetItem(ctx context.Context, i int, it FleetItem, opts FleetOptions) FleetResult {
	start := time.Now()
	var mu sync.Mutex
	step := StepCreate
	progress := func(st string) {
		mu.Lock()
		step = st
		mu.Unlock()
		if opts.OnStep != nil {
			opts.OnStep(i, st)
		}
	}
	r := FleetResult{SecretName: it.SecretName, InstanceId: it.InstanceId, Kind: it.Kind, Result: FleetSuccess}
	var err error
	if it.Kind == FleetAdminKey {
		var resp *RotateAdminKeyResponse
		if resp, err = s.RotateAdminKey(context.WithoutCancel(ctx), RotateAdminKeyRequest{InstanceId: it.InstanceId, Progress: progress}); err == nil {
			r.Fingerprint, r.RemovedKeyLines, r.Warning = resp.Fingerprint, &resp.RemovedKeyLines, resp.Warning
		}
	} else {
		var resp *RotateSecretResponse
		if resp, err = s.RotateSecret(context.WithoutCancel(ctx), RotateSecretRequest{SecretName: it.SecretName, Progress: progress}); err == nil {
			r.VersionId, r.RemovedKeyLines, r.Warning = resp.VersionId, resp.RemovedKeyLines, resp.Warning
		}
	}
	r.Ms = time.Since(start).Milliseconds()
	if err != nil {
		ae := model.AsAPIError(err)
		mu.Lock()
		r.FailedStep = step
		mu.Unlock()
		r.Result, r.Code, r.Reason = FleetFailure, ae.Code, ae.Message
	}
	return r
}

// SelectAdminKeys lists the instances of the service's region whose admin
// key a fleet rotation covers: those named (each must exist there), or
// every one with all.
func (s *Service) SelectAdminKeys(ctx context.Context, ids []string, all bool) ([]FleetItem, error) {
	switch {
	case len(ids) > 0 && all:
		return nil, model.InvalidParam("InstanceId", "give --InstanceId ID or --all, not both")
	case len(ids) == 0 && !all:
		return nil, model.Errorf(model.CodeMissingParameter, "nothing selected: give --InstanceId ID or --all")
	}
	for _, id := range ids {
		if err := model.ValidateInstanceId(id); err != nil {
			return nil, err
		}
	}
	var items []FleetItem
	err := s.store.Read(ctx, func(tx *db.Tx) error {
		if all {
			list, err := tx.Instances(s.opts.Region)
			for _, in := range list {
				items = append(items, FleetItem{InstanceId: in.InstanceId, Kind: FleetAdminKey})
			}
			return err
		}
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			inst, err := tx.Instance(id)
			if err != nil {
				return err
			}
			if inst == nil || inst.RegionId != s.opts.Region {
				return model.NotFound("The instance %s does not exist in region %s", id, s.opts.Region)
			}
			items = append(items, FleetItem{InstanceId: id, Kind: FleetAdminKey})
		}
		return nil
	})
	if err != nil {
		return nil, model.Wrap(err)
	}
	return items, nil
}
