package service

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	"github.com/google/uuid"

	"kmsconsole/db"
	"kmsconsole/model"
)

// CreateSecret stores a new secret with its first version as ACSCurrent.
func (s *Service) CreateSecret(ctx context.Context, req CreateSecretRequest) (resp *CreateSecretResponse, err error) {
	o := op{action: "CreateSecret", target: req.SecretName, perm: permAdmin, what: "create secrets", audit: true}
	err = s.handle(ctx, o, func(r *request) error {
		resp, err = s.createSecret(ctx, r, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func (s *Service) createSecret(ctx context.Context, r *request, req CreateSecretRequest) (resp *CreateSecretResponse, err error) {
	rid := r.ID
	typ, err := model.ParseSecretType(req.SecretType)
	if err != nil {
		return nil, err
	}
	if err := model.ValidateSecretName(req.SecretName, typ); err != nil {
		return nil, err
	}
	dataType, err := model.ValidateDataType(req.SecretDataType)
	if err != nil {
		return nil, err
	}
	if err := model.ValidateSecretData(req.SecretData, dataType); err != nil {
		return nil, err
	}
	if req.VersionId == "" && typ == model.ECS {
		// An ECS secret's first version is named for the caller, as its
		// rotations are; a generic one's is the caller's to choose (the
		// cloud API requires it).
		req.VersionId = uuid.NewString()
	}
	if err := model.ValidateVersionId(req.VersionId); err != nil {
		return nil, err
	}
	if err := model.ValidateDescription(req.Description); err != nil {
		return nil, err
	}
	now := s.now()
	row := &db.SecretRow{Secret: model.Secret{
		Name: req.SecretName, Type: typ, Description: req.Description, RegionId: s.opts.Region,
		DataType: dataType, CreateTime: now, UpdateTime: now, AutomaticRotation: model.RotationDisabled,
	}}
	var ecsPlan *ecsCreatePlan
	var managedUser string
	switch typ {
	case model.Generic:
		if req.ExtendedConfig != "" {
			return nil, model.InvalidParam("ExtendedConfig", "only ECS secrets take an ExtendedConfig")
		}
		if req.EnableAutomaticRotation || req.RotationInterval != "" || req.RotationSchedule != "" || req.RotationWindow != "" {
			return nil, model.InvalidParam("EnableAutomaticRotation", "generic secrets have no built-in rotation; rotate them with PutSecretValue and UpdateSecretVersionStage")
		}
	case model.ECS:
		if dataType != model.DataText {
			return nil, model.InvalidParam("SecretDataType", "ECS secrets are text")
		}
		policy, err := parseRotationPolicy(req.RotationInterval, req.RotationSchedule, req.RotationWindow)
		if err != nil {
			return nil, err
		}
		if req.EnableAutomaticRotation {
			if !policy.given() {
				return nil, model.MissingParam("RotationInterval")
			}
			policy.apply(&row.Secret, now)
			row.AutomaticRotation = model.RotationEnabled
			row.AutoWanted = true
		} else if policy.given() {
			return nil, model.InvalidParam("RotationInterval", "set EnableAutomaticRotation true to give an interval or a schedule")
		}
		if ecsPlan, err = s.prepareECSSecret(ctx, req, row); err != nil {
			return nil, err
		}
		var planned model.ECSData
		if err := json.Unmarshal([]byte(ecsPlan.data), &planned); err != nil {
			return nil, model.Errorf(model.CodeInternalFailure, "re-read the checked SecretData: %v", err)
		}
		managedUser = planned.UserName
	}
	err = s.store.Write(ctx, func(tx *db.Tx) error {
		existing, err := tx.SecretByName(req.SecretName)
		if err != nil {
			return err
		}
		if existing != nil {
			if existing.PendingDeletion() {
				return model.Errorf(model.CodeInDeleteWindow, "The secret %s is pending deletion; its name cannot be reused until it is purged or restored", req.SecretName)
			}
			return model.Errorf(model.CodeResourceExist, "The secret %s already exists", req.SecretName)
		}
		data := req.SecretData
		if ecsPlan != nil {
			if err := ecsPlan.recheck(tx); err != nil {
				return err
			}
			// In the write transaction: two creations racing for one
			// user (in any processes) cannot both pass.
			if err := managedUserTaken(tx, ecsPlan.instanceId, managedUser); err != nil {
				return err
			}
			data = ecsPlan.data
		}
		if row.ID, err = tx.InsertSecret(row); err != nil {
			return err
		}
		if err := tx.InsertVersion(row, req.VersionId, data, dataType, now); err != nil {
			return err
		}
		if err := tx.SetLabels(row.ID, nil, model.Labels{model.StageCurrent: req.VersionId}); err != nil {
			return err
		}
		if err := r.successAt(tx, req.VersionId); err != nil {
			return err
		}
		return s.emit(tx, model.Event{Type: model.EventSecretCreated, SecretName: row.Name, VersionId: req.VersionId,
			InstanceId: row.InstanceId, RequestId: r.ID})
	})
	if err != nil {
		return nil, err
	}
	resp = &CreateSecretResponse{
		RequestId: rid, Arn: s.arn(row.Name), SecretName: row.Name, VersionId: req.VersionId,
		SecretType: string(row.Type), AutomaticRotation: row.AutomaticRotation,
		RotationInterval: model.FormatInterval(row.RotationInterval),
		NextRotationDate: model.FormatTime(row.NextRotation()), ExtendedConfig: row.ExtendedConfig,
	}
	if v := viewSchedule(&row.Secret, now); v.schedule != "" {
		resp.RotationSchedule, resp.RotationWindow = v.schedule, v.window
		resp.NextRotationWindowStart, resp.NextRotationWindowEnd, resp.NextRotationDate = v.windowStart, v.windowEnd, v.next
	}
	if ecsPlan != nil {
		resp.Warning = ecsPlan.warning
	}
	return resp, nil
}

// managedUserTaken refuses a second managed ECS secret for an OS user on
// an instance: rotating one would silently break the other. Secrets
// pending deletion count too, since a restore would bring them back. The
// user is in each secret's value (its ACSCurrent version; rotations never
// change it).
func managedUserTaken(tx *db.Tx, instanceId, userName string) error {
	rows, err := tx.SecretsOfInstance(instanceId)
	if err != nil {
		return err
	}
	for _, r := range rows {
		labels, err := tx.Labels(r.ID)
		if err != nil {
			return err
		}
		vid := labels[model.StageCurrent]
		if vid == "" {
			continue
		}
		v, err := tx.Version(r, vid)
		if err != nil {
			return err
		}
		if v == nil {
			continue
		}
		var d model.ECSData
		if err := json.Unmarshal([]byte(v.Data), &d); err != nil {
			return model.Errorf(model.CodeInternalFailure, "The value of secret %s is not ECS data", r.Name)
		}
		if d.UserName != userName {
			continue
		}
		if r.PendingDeletion() {
			return model.Errorf(model.CodeResourceExist, "The user %s on instance %s is already managed by secret %s (pending deletion: restore it, or delete it immediately, first)", userName, instanceId, r.Name)
		}
		return model.Errorf(model.CodeResourceExist, "The user %s on instance %s is already managed by secret %s", userName, instanceId, r.Name)
	}
	return nil
}

// CheckManagedUser tells whether a new ECS secret may manage userName on
// the instance: nil, or the Rejected.ResourceExist error CreateSecret
// would give, naming the secret that manages the user. The console's
// Create Secret wizard asks it as the user is typed; CreateSecret checks
// again when it writes.
func (s *Service) CheckManagedUser(ctx context.Context, instanceId, userName string) error {
	if err := s.requireAdmin(ctx, "create secrets"); err != nil {
		return err
	}
	return model.Wrap(s.store.Read(ctx, func(tx *db.Tx) error {
		return managedUserTaken(tx, instanceId, userName)
	}))
}

// GetSecretValue returns a version's value: ACSCurrent unless a version or
// stage is asked for.
func (s *Service) GetSecretValue(ctx context.Context, req GetSecretValueRequest) (resp *GetSecretValueResponse, err error) {
	// Every read of a value is audited, refused ones included; the value
	// is handed out only once its read is on record.
	o := op{action: "GetSecretValue", target: req.SecretName, versionId: req.VersionId, stage: req.VersionStage,
		perm: permAdmin, what: "read secret values", audit: true, detail: req.Purpose}
	err = s.handle(ctx, o, func(r *request) error {
		var pending bool
		resp, pending, err = s.getSecretValue(ctx, req)
		if err == nil && pending {
			// A rotation was interrupted: settle it so the value
			// returned is the one the host accepts, then read again.
			if rerr := s.ResolvePending(ctx, req.SecretName); rerr == nil {
				resp, _, err = s.getSecretValue(ctx, req)
			}
		}
		if err != nil {
			return err
		}
		resp.RequestId = r.ID
		r.ev.VersionId = resp.VersionId
		if r.ev.Stage == "" && req.VersionId == "" {
			r.ev.Stage = model.StageCurrent
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func (s *Service) getSecretValue(ctx context.Context, req GetSecretValueRequest) (resp *GetSecretValueResponse, pending bool, err error) {
	if req.VersionId != "" {
		if err := model.ValidateVersionId(req.VersionId); err != nil {
			return nil, false, err
		}
	}
	if req.VersionStage != "" {
		if err := model.ValidateStageName("VersionStage", req.VersionStage); err != nil {
			return nil, false, err
		}
	}
	if err := model.ValidateSecretNameRef(req.SecretName); err != nil {
		return nil, false, err
	}
	// One statement reads the secret, its labels and the version: the hot
	// path of every application, one round trip to the store.
	stage := req.VersionStage
	if req.VersionId == "" && stage == "" {
		stage = model.StageCurrent
	}
	read, err := s.store.ReadSecret(ctx, req.SecretName, req.VersionId, stage)
	if err == nil {
		resp, pending, err = secretValue(read, req)
	}
	if err != nil {
		return nil, false, model.Wrap(err)
	}
	return resp, pending, nil
}

// secretValue answers a GetSecretValue from what ReadSecret read.
func secretValue(read *db.SecretRead, req GetSecretValueRequest) (*GetSecretValueResponse, bool, error) {
	if read == nil {
		return nil, false, model.NotFound("The secret %s does not exist", req.SecretName)
	}
	sec, labels := read.Secret, read.Labels
	if sec.PendingDeletion() {
		return nil, false, errPendingDeletion(sec)
	}
	_, pending := labels[model.StagePending]
	vid, stage := req.VersionId, req.VersionStage
	if sec.Type == model.ECS && stage != "" && stage != model.StageCurrent && stage != model.StagePrevious {
		return nil, pending, model.InvalidParam("VersionStage", "ECS secrets can be read only at ACSCurrent or ACSPrevious")
	}
	switch {
	case vid == "" && stage == "":
		stage = model.StageCurrent
		fallthrough
	case vid == "":
		vid = labels[stage]
		if vid == "" {
			return nil, pending, model.NotFound("The secret %s has no version at stage %s", sec.Name, stage)
		}
	case stage != "" && labels[stage] != vid:
		return nil, pending, model.NotFound("The version %s of secret %s is not at stage %s", vid, sec.Name, stage)
	}
	v := read.Version
	if v == nil || v.VersionId != vid {
		return nil, pending, model.NotFound("The secret %s has no version %s", sec.Name, vid)
	}
	stages := labels.Of(vid)
	if sec.Type == model.ECS && !contains(stages, model.StageCurrent) && !contains(stages, model.StagePrevious) {
		return nil, pending, model.InvalidParam("VersionId", "ECS secrets can be read only at ACSCurrent or ACSPrevious")
	}
	resp := &GetSecretValueResponse{
		RequestId: newRequestId(), SecretName: sec.Name, VersionId: vid,
		CreateTime: model.FormatTime(v.CreateTime), SecretData: v.Data, SecretDataType: v.DataType,
		VersionStages: Stages{publicStages(stages)}, SecretType: string(sec.Type),
		AutomaticRotation: sec.AutomaticRotation, RotationInterval: model.FormatInterval(sec.RotationInterval),
		LastRotationDate: model.FormatTime(sec.LastRotationDate), NextRotationDate: model.FormatTime(sec.NextRotationDate),
	}
	if req.FetchExtendedConfig {
		resp.ExtendedConfig = sec.ExtendedConfig
	}
	return resp, pending, nil
}

// publicStages hides the internal pending label from readers.
func publicStages(stages []string) []string {
	out := make([]string, 0, len(stages))
	for _, st := range stages {
		if st != model.StagePending {
			out = append(out, st)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// PutSecretValue adds a version to a generic secret.
func (s *Service) PutSecretValue(ctx context.Context, req PutSecretValueRequest) (resp *PutSecretValueResponse, err error) {
	o := op{action: "PutSecretValue", target: req.SecretName, versionId: req.VersionId, perm: permAdmin, what: "put secret values", audit: true}
	err = s.handle(ctx, o, func(r *request) error {
		resp, err = s.putSecretValue(ctx, r, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func (s *Service) putSecretValue(ctx context.Context, r *request, req PutSecretValueRequest) (resp *PutSecretValueResponse, err error) {
	rid := r.ID
	if err := model.ValidateSecretNameRef(req.SecretName); err != nil {
		return nil, err
	}
	if err := model.ValidateVersionId(req.VersionId); err != nil {
		return nil, err
	}
	dataType, err := model.ValidateDataType(req.SecretDataType)
	if err != nil {
		return nil, err
	}
	if err := model.ValidateSecretData(req.SecretData, dataType); err != nil {
		return nil, err
	}
	stages := req.VersionStages
	if stages == nil {
		stages = []string{model.StageCurrent}
	}
	for _, st := range stages {
		if err := model.ValidateStageName("VersionStages", st); err != nil {
			return nil, err
		}
	}
	var out []string
	var noop bool
	err = s.store.Write(ctx, func(tx *db.Tx) error {
		noop = false
		sec, err := loadSecret(tx, req.SecretName, false)
		if err != nil {
			return err
		}
		if sec.Type == model.ECS {
			return model.InvalidParam("SecretName", "%s is an ECS secret: its versions are made by RotateSecret", sec.Name)
		}
		labels, err := tx.Labels(sec.ID)
		if err != nil {
			return err
		}
		existing, err := tx.Version(sec, req.VersionId)
		if err != nil {
			return err
		}
		if existing != nil {
			if existing.Data != req.SecretData || existing.DataType != dataType {
				return model.Errorf(model.CodeResourceExist, "The version %s of secret %s already exists with different data", req.VersionId, sec.Name)
			}
			out = publicStages(labels.Of(req.VersionId))
			noop = true
			return nil // idempotent retry: nothing to write; its record says so
		}
		now := s.now()
		if err := tx.InsertVersion(sec, req.VersionId, req.SecretData, dataType, now); err != nil {
			return err
		}
		next := labels.Clone()
		for _, st := range stages {
			next.Move(st, req.VersionId)
		}
		if err := next.CheckLimit(); err != nil {
			return err
		}
		if err := evict(tx, sec.ID, next); err != nil {
			return err
		}
		if err := tx.SetLabels(sec.ID, labels, next); err != nil {
			return err
		}
		sec.UpdateTime = now
		if err := tx.UpdateSecret(sec); err != nil {
			return err
		}
		out = publicStages(next.Of(req.VersionId))
		return r.successAt(tx, req.VersionId)
	})
	if err != nil {
		return nil, err
	}
	if noop {
		// A retry of a request whose answer was lost: recorded (every
		// request is) as the no-op it is, so the log does not show the
		// version put twice.
		r.note("no-op: the version exists")
	}
	return &PutSecretValueResponse{RequestId: rid, SecretName: req.SecretName, VersionId: req.VersionId, VersionStages: Stages{out}}, nil
}

// evict drops the oldest deprecated versions beyond the limit.
func evict(tx *db.Tx, secretId int64, labels model.Labels) error {
	versions, err := tx.Versions(secretId)
	if err != nil {
		return err
	}
	ages := make([]model.VersionAge, len(versions))
	for i, v := range versions {
		ages[i] = model.VersionAge{VersionId: v.VersionId, Seq: v.Seq}
	}
	drop, err := model.Evict(ages, labels)
	if err != nil {
		return err
	}
	return tx.DeleteVersions(secretId, drop)
}

// UpdateSecretVersionStage moves or removes a stage label of a generic secret.
func (s *Service) UpdateSecretVersionStage(ctx context.Context, req UpdateSecretVersionStageRequest) (resp *NameResponse, err error) {
	o := op{action: "UpdateSecretVersionStage", target: req.SecretName, versionId: req.MoveToVersion, perm: permAdmin, what: "move stage labels", audit: true}
	err = s.handle(ctx, o, func(r *request) error {
		resp, err = s.updateSecretVersionStage(ctx, r, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func (s *Service) updateSecretVersionStage(ctx context.Context, r *request, req UpdateSecretVersionStageRequest) (resp *NameResponse, err error) {
	rid := r.ID
	if err := model.ValidateSecretNameRef(req.SecretName); err != nil {
		return nil, err
	}
	if err := model.ValidateStageName("VersionStage", req.VersionStage); err != nil {
		return nil, err
	}
	if req.RemoveFromVersion == "" && req.MoveToVersion == "" {
		return nil, model.MissingParam("MoveToVersion")
	}
	for param, v := range map[string]string{"RemoveFromVersion": req.RemoveFromVersion, "MoveToVersion": req.MoveToVersion} {
		if v != "" {
			if err := checkVersionParam(param, v); err != nil {
				return nil, err
			}
		}
	}
	if req.MoveToVersion == "" && (req.VersionStage == model.StageCurrent || req.VersionStage == model.StagePrevious) {
		return nil, model.InvalidParam("VersionStage", "%s can be moved but never removed; give MoveToVersion", req.VersionStage)
	}
	err = s.store.Write(ctx, func(tx *db.Tx) error {
		sec, err := loadSecret(tx, req.SecretName, false)
		if err != nil {
			return err
		}
		if sec.Type == model.ECS {
			return model.InvalidParam("SecretName", "%s is an ECS secret: its stages move only by RotateSecret", sec.Name)
		}
		labels, err := tx.Labels(sec.ID)
		if err != nil {
			return err
		}
		for _, v := range []string{req.RemoveFromVersion, req.MoveToVersion} {
			if v == "" {
				continue
			}
			if ver, err := tx.Version(sec, v); err != nil {
				return err
			} else if ver == nil {
				return model.NotFound("The secret %s has no version %s", sec.Name, v)
			}
		}
		holder, has := labels[req.VersionStage]
		if req.RemoveFromVersion != "" && holder != req.RemoveFromVersion {
			return model.InvalidParam("RemoveFromVersion", "stage %s is not on version %s", req.VersionStage, req.RemoveFromVersion)
		}
		if req.MoveToVersion == "" && !has {
			return model.NotFound("The secret %s has no stage %s", sec.Name, req.VersionStage)
		}
		next := labels.Clone()
		if req.MoveToVersion != "" {
			next.Move(req.VersionStage, req.MoveToVersion)
		} else {
			delete(next, req.VersionStage)
		}
		if err := next.CheckLimit(); err != nil {
			return err
		}
		if err := tx.SetLabels(sec.ID, labels, next); err != nil {
			return err
		}
		sec.UpdateTime = s.now()
		if err := tx.UpdateSecret(sec); err != nil {
			return err
		}
		return r.successAt(tx, req.MoveToVersion)
	})
	if err != nil {
		return nil, err
	}
	return &NameResponse{RequestId: rid, SecretName: req.SecretName}, nil
}

func checkVersionParam(param, v string) error {
	if err := model.ValidateVersionId(v); err != nil {
		return model.InvalidParam(param, "%s", err.(*model.APIError).Message)
	}
	return nil
}

// GetRandomPassword draws a password; it changes nothing.
func (s *Service) GetRandomPassword(ctx context.Context, req GetRandomPasswordRequest) (resp *GetRandomPasswordResponse, err error) {
	err = s.handle(ctx, op{action: "GetRandomPassword", perm: permList}, func(r *request) error {
		resp, err = s.getRandomPassword(req)
		if resp != nil {
			resp.RequestId = r.ID
		}
		return err
	})
	return resp, err
}

func (s *Service) getRandomPassword(req GetRandomPasswordRequest) (*GetRandomPasswordResponse, error) {
	o := model.PasswordOptions{
		Length: req.PasswordLength, ExcludeCharacters: req.ExcludeCharacters,
		ExcludeLowercase: req.ExcludeLowercase, ExcludeUppercase: req.ExcludeUppercase,
		ExcludeNumbers: req.ExcludeNumbers, ExcludePunctuation: req.ExcludePunctuation,
		RequireEachIncludedType: req.RequireEachIncludedType == nil || *req.RequireEachIncludedType,
	}
	p, err := model.RandomPassword(o)
	if err != nil {
		return nil, err
	}
	return &GetRandomPasswordResponse{RequestId: newRequestId(), RandomPassword: p}, nil
}

func pageParams(number, size, defSize, maxSize int) (int, int, error) {
	if number == 0 {
		number = 1
	}
	if size == 0 {
		size = defSize
	}
	if number < 1 {
		return 0, 0, model.InvalidParam("PageNumber", "must be at least 1")
	}
	if size < 1 || size > maxSize {
		return 0, 0, model.InvalidParam("PageSize", "must be between 1 and %d, got %d", maxSize, size)
	}
	return number, size, nil
}

// ListSecrets lists the region's secrets, one page at a time.
func (s *Service) ListSecrets(ctx context.Context, req ListSecretsRequest) (resp *ListSecretsResponse, err error) {
	err = s.handle(ctx, op{action: "ListSecrets", perm: permList}, func(r *request) error {
		resp, err = s.listSecrets(ctx, req)
		if resp != nil {
			resp.RequestId = r.ID
		}
		return err
	})
	return resp, err
}

func (s *Service) listSecrets(ctx context.Context, req ListSecretsRequest) (*ListSecretsResponse, error) {
	number, size, err := pageParams(req.PageNumber, req.PageSize, 10, 100)
	if err != nil {
		return nil, err
	}
	f := db.SecretFilter{Region: s.opts.Region, Limit: size, Offset: (number - 1) * size}
	for _, flt := range req.Filters {
		switch flt.Key {
		case "SecretName":
			f.Names = append(f.Names, flt.Values...)
		case "Description":
			f.Descriptions = append(f.Descriptions, flt.Values...)
		case "SecretType":
			for _, v := range flt.Values {
				t, err := model.ParseSecretType(v)
				if err != nil {
					return nil, model.InvalidParam("Filters", "SecretType must be Generic or ECS, got %q", v)
				}
				f.Types = append(f.Types, string(t))
			}
		default:
			return nil, model.InvalidParam("Filters", "unknown filter key %q (use SecretName, Description or SecretType)", flt.Key)
		}
	}
	var rows []*db.SecretRow
	var total int
	err = s.store.Read(ctx, func(tx *db.Tx) error {
		rows, total, err = tx.ListSecrets(f)
		return err
	})
	if err != nil {
		return nil, model.Wrap(err)
	}
	resp := &ListSecretsResponse{RequestId: newRequestId(), PageNumber: number, PageSize: size, TotalCount: total}
	resp.SecretList.Secret = make([]SecretListEntry, 0, len(rows))
	for _, r := range rows {
		resp.SecretList.Secret = append(resp.SecretList.Secret, SecretListEntry{
			SecretName: r.Name, SecretType: string(r.Type), CreateTime: model.FormatTime(r.CreateTime),
			UpdateTime: model.FormatTime(r.UpdateTime), PlannedDeleteTime: model.FormatTime(r.PlannedDeleteTime),
		})
	}
	return resp, nil
}

// Secrets returns the region's secrets with full metadata, for the console.
func (s *Service) Secrets(ctx context.Context) ([]model.Secret, error) {
	var out []model.Secret
	err := s.store.Read(ctx, func(tx *db.Tx) error {
		rows, _, err := tx.ListSecrets(db.SecretFilter{Region: s.opts.Region})
		out = make([]model.Secret, len(rows))
		for i, r := range rows {
			out[i] = r.Secret
		}
		return err
	})
	return out, err
}

// SecretsHead returns the first limit secrets of the region (by name) and
// how many there are: the console draws its first frame from this while
// the whole list loads.
func (s *Service) SecretsHead(ctx context.Context, limit int) ([]model.Secret, int, error) {
	var out []model.Secret
	var total int
	err := s.store.Read(ctx, func(tx *db.Tx) error {
		rows, n, err := tx.ListSecrets(db.SecretFilter{Region: s.opts.Region, Limit: limit})
		total = n
		out = make([]model.Secret, len(rows))
		for i, r := range rows {
			out[i] = r.Secret
		}
		return err
	})
	return out, total, model.Wrap(err)
}

// DescribeSecret returns a secret's metadata (allowed during deletion).
func (s *Service) DescribeSecret(ctx context.Context, req SecretNameRequest) (resp *DescribeSecretResponse, err error) {
	err = s.handle(ctx, op{action: "DescribeSecret", target: req.SecretName, perm: permList}, func(r *request) error {
		resp, err = s.describeSecret(ctx, req)
		if resp != nil {
			resp.RequestId = r.ID
		}
		return err
	})
	return resp, err
}

func (s *Service) describeSecret(ctx context.Context, req SecretNameRequest) (*DescribeSecretResponse, error) {
	var resp *DescribeSecretResponse
	err := s.store.Read(ctx, func(tx *db.Tx) error {
		sec, err := loadSecret(tx, req.SecretName, true)
		if err != nil {
			return err
		}
		resp = &DescribeSecretResponse{
			RequestId: newRequestId(), Arn: s.arn(sec.Name), SecretName: sec.Name, Description: sec.Description,
			CreateTime: model.FormatTime(sec.CreateTime), UpdateTime: model.FormatTime(sec.UpdateTime),
			PlannedDeleteTime: model.FormatTime(sec.PlannedDeleteTime), SecretType: string(sec.Type),
			AutomaticRotation: sec.AutomaticRotation, RotationInterval: model.FormatInterval(sec.RotationInterval),
			LastRotationDate: model.FormatTime(sec.LastRotationDate), NextRotationDate: model.FormatTime(sec.NextRotationDate),
			ExtendedConfig: sec.ExtendedConfig, RotationFailureReason: sec.RotationError,
		}
		if v := viewSchedule(&sec.Secret, s.now()); v.schedule != "" {
			resp.RotationSchedule, resp.RotationWindow = v.schedule, v.window
			resp.NextRotationWindowStart, resp.NextRotationWindowEnd, resp.NextRotationDate = v.windowStart, v.windowEnd, v.next
		}
		return nil
	})
	return resp, model.Wrap(err)
}

// Secret returns a secret's metadata as the domain type (allowed during
// deletion), for the console: unlike DescribeSecret's cloud shape it carries
// the operator's rotation choice behind an Invalid status.
func (s *Service) Secret(ctx context.Context, name string) (*model.Secret, error) {
	var out *model.Secret
	err := s.store.Read(ctx, func(tx *db.Tx) error {
		sec, err := loadSecret(tx, name, true)
		if err != nil {
			return err
		}
		out = &sec.Secret
		return nil
	})
	return out, model.Wrap(err)
}

// Versions returns a secret's versions with their labels, newest first, for
// the console's details screen.
func (s *Service) Versions(ctx context.Context, name string) ([]model.Version, error) {
	var out []model.Version
	err := s.store.Read(ctx, func(tx *db.Tx) error {
		sec, err := loadSecret(tx, name, true)
		if err != nil {
			return err
		}
		versions, err := tx.Versions(sec.ID)
		if err != nil {
			return err
		}
		labels, err := tx.Labels(sec.ID)
		if err != nil {
			return err
		}
		for i := len(versions) - 1; i >= 0; i-- {
			v := versions[i]
			out = append(out, model.Version{VersionId: v.VersionId, CreateTime: v.CreateTime, Stages: labels.Of(v.VersionId)})
		}
		return nil
	})
	return out, model.Wrap(err)
}

// ListSecretVersionIds lists versions, newest first; deprecated ones only
// when asked.
func (s *Service) ListSecretVersionIds(ctx context.Context, req ListSecretVersionIdsRequest) (resp *ListSecretVersionIdsResponse, err error) {
	err = s.handle(ctx, op{action: "ListSecretVersionIds", target: req.SecretName, perm: permList}, func(r *request) error {
		resp, err = s.listSecretVersionIds(ctx, req)
		if resp != nil {
			resp.RequestId = r.ID
		}
		return err
	})
	return resp, err
}

func (s *Service) listSecretVersionIds(ctx context.Context, req ListSecretVersionIdsRequest) (*ListSecretVersionIdsResponse, error) {
	number, size, err := pageParams(req.PageNumber, req.PageSize, 20, 100)
	if err != nil {
		return nil, err
	}
	if err := model.ValidateSecretNameRef(req.SecretName); err != nil {
		return nil, err
	}
	all, err := s.Versions(ctx, req.SecretName)
	if err != nil {
		return nil, err
	}
	var entries []VersionEntry
	for _, v := range all {
		stages := publicStages(v.Stages)
		if len(stages) == 0 && !req.IncludeDeprecated {
			continue
		}
		entries = append(entries, VersionEntry{VersionId: v.VersionId, CreateTime: model.FormatTime(v.CreateTime), VersionStages: Stages{stages}})
	}
	resp := &ListSecretVersionIdsResponse{RequestId: newRequestId(), SecretName: req.SecretName, PageNumber: number, PageSize: size, TotalCount: len(entries)}
	start := min((number-1)*size, len(entries))
	resp.VersionIds.VersionId = append([]VersionEntry{}, entries[start:min(start+size, len(entries))]...)
	return resp, nil
}

// UpdateSecret changes the description, or an ECS secret's CustomData.
func (s *Service) UpdateSecret(ctx context.Context, req UpdateSecretRequest) (resp *NameResponse, err error) {
	o := op{action: "UpdateSecret", target: req.SecretName, perm: permAdmin, what: "update secrets", audit: true}
	err = s.handle(ctx, o, func(r *request) error {
		resp, err = s.updateSecret(ctx, r, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func (s *Service) updateSecret(ctx context.Context, r *request, req UpdateSecretRequest) (resp *NameResponse, err error) {
	rid := r.ID
	if err := model.ValidateSecretNameRef(req.SecretName); err != nil {
		return nil, err
	}
	if req.Description == nil && req.CustomData == "" {
		return nil, model.MissingParam("Description")
	}
	if req.Description != nil {
		if err := model.ValidateDescription(*req.Description); err != nil {
			return nil, err
		}
	}
	var custom any
	if req.CustomData != "" {
		if err := json.Unmarshal([]byte(req.CustomData), &custom); err != nil {
			return nil, model.InvalidParam("ExtendedConfig.CustomData", "must be a JSON object")
		}
		if _, ok := custom.(map[string]any); !ok {
			return nil, model.InvalidParam("ExtendedConfig.CustomData", "must be a JSON object")
		}
	}
	err = s.store.Write(ctx, func(tx *db.Tx) error {
		sec, err := loadSecret(tx, req.SecretName, false)
		if err != nil {
			return err
		}
		if req.Description != nil {
			sec.Description = *req.Description
		}
		if custom != nil {
			if sec.Type != model.ECS {
				return model.InvalidParam("ExtendedConfig.CustomData", "only ECS secrets have an ExtendedConfig")
			}
			cfg, err := model.ParseECSConfig(sec.ExtendedConfig)
			if err != nil {
				return err
			}
			cfg.CustomData = custom
			sec.ExtendedConfig = cfg.JSON()
		}
		sec.UpdateTime = s.now()
		if err := tx.UpdateSecret(sec); err != nil {
			return err
		}
		return r.success(tx)
	})
	if err != nil {
		return nil, err
	}
	return &NameResponse{RequestId: rid, SecretName: req.SecretName}, nil
}

// UpdateSecretRotationPolicy turns an ECS secret's automatic rotation on or
// off. Turning it on also clears a failed state: the operator has acted.
func (s *Service) UpdateSecretRotationPolicy(ctx context.Context, req UpdateSecretRotationPolicyRequest) (resp *NameResponse, err error) {
	o := op{action: "UpdateSecretRotationPolicy", target: req.SecretName, perm: permAdmin, what: "change rotation policies", audit: true}
	err = s.handle(ctx, o, func(r *request) error {
		resp, err = s.updateSecretRotationPolicy(ctx, r, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func (s *Service) updateSecretRotationPolicy(ctx context.Context, r *request, req UpdateSecretRotationPolicyRequest) (resp *NameResponse, err error) {
	rid := r.ID
	if err := model.ValidateSecretNameRef(req.SecretName); err != nil {
		return nil, err
	}
	if req.EnableAutomaticRotation == nil {
		return nil, model.MissingParam("EnableAutomaticRotation")
	}
	policy, err := parseRotationPolicy(req.RotationInterval, req.RotationSchedule, req.RotationWindow)
	if err != nil {
		return nil, err
	}
	err = s.store.Write(ctx, func(tx *db.Tx) error {
		sec, err := loadSecret(tx, req.SecretName, false)
		if err != nil {
			return err
		}
		if sec.Type != model.ECS {
			return model.InvalidParam("SecretName", "%s is a generic secret: it has no built-in rotation", sec.Name)
		}
		if *req.EnableAutomaticRotation {
			if !policy.given() && !sec.Rotates() {
				return model.MissingParam("RotationInterval")
			}
			policy.apply(&sec.Secret, s.now())
			sec.AutomaticRotation = model.RotationEnabled
			sec.AutoWanted = true
			sec.RotationFailures = 0
			sec.RotationError = ""
			sec.NextRetry = time.Time{}
		} else {
			if policy.given() {
				return model.InvalidParam("RotationInterval", "give an interval or a schedule only when enabling rotation")
			}
			sec.AutomaticRotation = model.RotationDisabled
			sec.AutoWanted = false
		}
		sec.UpdateTime = s.now()
		if err := tx.UpdateSecret(sec); err != nil {
			return err
		}
		return r.success(tx)
	})
	if err != nil {
		return nil, err
	}
	return &NameResponse{RequestId: rid, SecretName: req.SecretName}, nil
}

// DeleteSecret plans a deletion (7–30 days) or deletes at once. It never
// changes a host.
func (s *Service) DeleteSecret(ctx context.Context, req DeleteSecretRequest) (resp *DeleteSecretResponse, err error) {
	o := op{action: "DeleteSecret", target: req.SecretName, perm: permAdmin, what: "delete secrets", audit: true}
	err = s.handle(ctx, o, func(r *request) error {
		resp, err = s.deleteSecret(ctx, r, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func (s *Service) deleteSecret(ctx context.Context, r *request, req DeleteSecretRequest) (resp *DeleteSecretResponse, err error) {
	rid := r.ID
	if err := model.ValidateSecretNameRef(req.SecretName); err != nil {
		return nil, err
	}
	days := 30
	if req.RecoveryWindowInDays != nil {
		if req.ForceDeleteWithoutRecovery {
			return nil, model.InvalidParam("RecoveryWindowInDays", "give either RecoveryWindowInDays or ForceDeleteWithoutRecovery, not both")
		}
		days = *req.RecoveryWindowInDays
		if days < 7 || days > 30 {
			return nil, model.InvalidParam("RecoveryWindowInDays", "must be between 7 and 30, got %d", days)
		}
	}
	now := s.now()
	var planned time.Time
	err = s.store.Write(ctx, func(tx *db.Tx) error {
		sec, err := loadSecret(tx, req.SecretName, true)
		if err != nil {
			return err
		}
		if holder, err := tx.LeaseHolder(rotationLease(sec.Name), s.opts.Now()); err != nil {
			return err
		} else if holder != "" {
			return model.Errorf(model.CodeResourceInUse, "The secret %s is being rotated; try again when the rotation has finished", sec.Name)
		}
		if req.ForceDeleteWithoutRecovery {
			planned = now
			if err := tx.DeleteSecret(sec.ID); err != nil {
				return err
			}
			if err := r.success(tx); err != nil {
				return err
			}
			if err := s.emit(tx, model.Event{Type: model.EventSecretDeleted, SecretName: sec.Name, InstanceId: sec.InstanceId,
				Detail: "deleted without recovery", RequestId: r.ID}); err != nil {
				return err
			}
			return s.emit(tx, model.Event{Type: model.EventSecretPurged, SecretName: sec.Name, InstanceId: sec.InstanceId, RequestId: r.ID})
		}
		if sec.PendingDeletion() {
			return model.Errorf(model.CodeInDeleteWindow, "The secret %s is already pending deletion (planned for %s)", sec.Name, model.FormatTime(sec.PlannedDeleteTime))
		}
		planned = now.Add(time.Duration(days) * 24 * time.Hour)
		sec.PlannedDeleteTime = planned
		sec.UpdateTime = now
		if err := tx.UpdateSecret(sec); err != nil {
			return err
		}
		if err := r.success(tx); err != nil {
			return err
		}
		return s.emit(tx, model.Event{Type: model.EventSecretDeleted, SecretName: sec.Name, InstanceId: sec.InstanceId,
			Detail: "deletion planned for " + model.FormatTime(planned), RequestId: r.ID})
	})
	if err != nil {
		return nil, err
	}
	return &DeleteSecretResponse{RequestId: rid, SecretName: req.SecretName, PlannedDeleteTime: model.FormatTime(planned)}, nil
}

// RestoreSecret cancels a planned deletion.
func (s *Service) RestoreSecret(ctx context.Context, req SecretNameRequest) (resp *NameResponse, err error) {
	o := op{action: "RestoreSecret", target: req.SecretName, perm: permAdmin, what: "restore secrets", audit: true}
	err = s.handle(ctx, o, func(r *request) error {
		resp, err = s.restoreSecret(ctx, r, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func (s *Service) restoreSecret(ctx context.Context, r *request, req SecretNameRequest) (resp *NameResponse, err error) {
	rid := r.ID
	err = s.store.Write(ctx, func(tx *db.Tx) error {
		sec, err := loadSecret(tx, req.SecretName, true)
		if err != nil {
			return err
		}
		if !sec.PendingDeletion() {
			return model.Errorf(model.CodeResourceInUse, "The secret %s is not pending deletion", sec.Name)
		}
		sec.PlannedDeleteTime = time.Time{}
		sec.UpdateTime = s.now()
		if err := tx.UpdateSecret(sec); err != nil {
			return err
		}
		if err := r.success(tx); err != nil {
			return err
		}
		return s.emit(tx, model.Event{Type: model.EventSecretRestored, SecretName: sec.Name, InstanceId: sec.InstanceId, RequestId: r.ID})
	})
	if err != nil {
		return nil, err
	}
	return &NameResponse{RequestId: rid, SecretName: req.SecretName}, nil
}

// PurgeDue deletes secrets whose planned deletion time has passed.
func (s *Service) PurgeDue(ctx context.Context) (purged []string, err error) {
	err = s.store.Write(ctx, func(tx *db.Tx) error {
		purged = purged[:0] // the store may run this again after losing to another writer
		due, err := tx.SecretsToPurge(s.now())
		if err != nil {
			return err
		}
		for _, sec := range due {
			if err := tx.DeleteSecret(sec.ID); err != nil {
				return err
			}
			rid := newRequestId()
			if err := tx.Audit(model.AuditEvent{Time: s.now(), Operator: s.Actor().Name, Action: "PurgeSecret", Target: sec.Name, Result: "Success", RequestId: rid}); err != nil {
				return err
			}
			if err := s.emit(tx, model.Event{Type: model.EventSecretPurged, SecretName: sec.Name, InstanceId: sec.InstanceId, RequestId: rid}); err != nil {
				return err
			}
			purged = append(purged, sec.Name)
		}
		return nil
	})
	return purged, err
}

func rotationLease(name string) string { return "rotate:" + name }

// Regions lists the regions that have secrets or instances, plus the
// service's own, for the console's region switcher.
func (s *Service) Regions(ctx context.Context) ([]string, error) {
	var out []string
	err := s.store.Read(ctx, func(tx *db.Tx) error {
		var err error
		out, err = tx.Regions()
		return err
	})
	if !contains(out, s.opts.Region) {
		out = append(out, s.opts.Region)
	}
	sort.Strings(out)
	return out, model.Wrap(err)
}
