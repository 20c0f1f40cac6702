package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"kmsconsole/db"
	"kmsconsole/ecs"
	"kmsconsole/model"
)

// AddInstanceRequest registers a managed host. Either HostKey is given, or
// the host key is fetched and AcceptHostKey must equal its fingerprint.
type AddInstanceRequest struct {
	InstanceId    string
	InstanceName  string
	RegionId      string
	Host          string
	Port          int
	AdminUser     string
	AdminKey      []byte `param:"-"` // read from AdminKeyFile by the caller
	HostKey       string
	AcceptHostKey string
}

// InstanceView is an instance as shown to people: no key, a fingerprint.
type InstanceView struct {
	InstanceId     string
	InstanceName   string
	RegionId       string
	Host           string
	Port           int
	AdminUser      string
	HostKey        string
	Fingerprint    string
	CreateTime     string
	ManagedSecrets int `json:",omitempty"`
	// The admin key's rotation (adminkey.go); never the key.
	AdminKeyFingerprint  string `json:",omitempty"` // of the admin key, when it was read
	AdminKeyRotated      string `json:",omitempty"`
	AdminKeyPeriod       string `json:",omitempty"` // "30d"
	NextAdminKeyRotation string `json:",omitempty"`
	// AdminKeyPending: a rotation was cut short; the next start settles it.
	AdminKeyPending bool `json:",omitempty"`
	// RetiredAdminKeyLeft: the replaced key's line may still be on the host.
	RetiredAdminKeyLeft bool   `json:",omitempty"`
	AdminKeyError       string `json:",omitempty"`
}

func viewOf(i model.Instance) InstanceView {
	fp, _ := ecs.Fingerprint(i.HostKey)
	return InstanceView{InstanceId: i.InstanceId, InstanceName: i.InstanceName, RegionId: i.RegionId, Host: i.Host,
		Port: i.Port, AdminUser: i.AdminUser, HostKey: i.HostKey, Fingerprint: fp, CreateTime: model.FormatTime(i.CreateTime),
		AdminKeyRotated: model.FormatTime(i.AdminKeyRotated), AdminKeyPeriod: model.HumanInterval(i.AdminKeyPeriod),
		NextAdminKeyRotation: model.FormatTime(nextAdminKeyRotation(i)), AdminKeyPending: i.AdminKeyPending,
		RetiredAdminKeyLeft: i.RetiredAdminKey != "", AdminKeyError: i.AdminKeyError}
}

// HostKeyUnconfirmedError carries a fetched host key's fingerprint that the
// operator has to confirm with AcceptHostKey.
type HostKeyUnconfirmedError struct {
	*model.APIError
	HostKey     string
	Fingerprint string
}

// Unwrap lets errors.As find the API error (its code and HTTP status).
func (e *HostKeyUnconfirmedError) Unwrap() error { return e.APIError }

// FetchHostKey reads a host's key so an operator can compare fingerprints.
func (s *Service) FetchHostKey(ctx context.Context, host string, port int) (key, fingerprint string, err error) {
	key, err = ecs.FetchHostKey(ctx, host, port)
	if err != nil {
		return "", "", model.Errorf(model.CodeInvalidParameter, "cannot fetch the host key of %s:%d: %v", host, port, err)
	}
	fingerprint, err = ecs.Fingerprint(key)
	return key, fingerprint, err
}

// AddInstance validates and pins a managed host and stores its admin key
// encrypted. It logs in once with the admin key to prove it works.
func (s *Service) AddInstance(ctx context.Context, req AddInstanceRequest) (view *InstanceView, err error) {
	err = s.handle(ctx, op{action: "AddInstance", target: req.InstanceId, perm: permAdmin, what: "add instances", audit: true}, func(r *request) error {
		view, err = s.addInstance(ctx, r, req)
		return err
	})
	return view, err
}

func (s *Service) addInstance(ctx context.Context, r *request, req AddInstanceRequest) (*InstanceView, error) {
	if err := model.ValidateInstanceId(req.InstanceId); err != nil {
		return nil, err
	}
	if req.RegionId == "" {
		req.RegionId = s.opts.Region
	}
	if err := model.ValidateRegionId("RegionId", req.RegionId); err != nil {
		return nil, err
	}
	if req.Host == "" {
		return nil, model.MissingParam("Host")
	}
	if strings.ContainsAny(req.Host, " \t\n/") {
		return nil, model.InvalidParam("Host", "not a host name or address: %q", req.Host)
	}
	if req.Port == 0 {
		req.Port = 22
	}
	if req.Port < 1 || req.Port > 65535 {
		return nil, model.InvalidParam("Port", "must be between 1 and 65535, got %d", req.Port)
	}
	if req.AdminUser == "" {
		req.AdminUser = "root"
	}
	if err := model.ValidateUserName(req.AdminUser); err != nil {
		return nil, model.InvalidParam("AdminUser", "%q is not a valid Linux user name", req.AdminUser)
	}
	if len(req.AdminKey) == 0 {
		return nil, model.MissingParam("AdminKeyFile")
	}
	if _, err := model.ParsePrivateKey("AdminKeyFile", req.AdminKey); err != nil {
		return nil, err
	}
	if req.HostKey != "" {
		_, line, err := model.ParseHostKey("HostKey", req.HostKey)
		if err != nil {
			return nil, err
		}
		req.HostKey = line
	} else {
		key, fp, err := s.FetchHostKey(ctx, req.Host, req.Port)
		if err != nil {
			return nil, err
		}
		if req.AcceptHostKey == "" {
			return nil, &HostKeyUnconfirmedError{
				APIError: model.Errorf(model.CodeMissingParameter, "The host key of %s:%d has fingerprint %s; check it out of band and repeat with --AcceptHostKey %s", req.Host, req.Port, fp, fp),
				HostKey:  key, Fingerprint: fp,
			}
		}
		if req.AcceptHostKey != fp {
			return nil, model.InvalidParam("AcceptHostKey", "the host offers %s, not %s", fp, req.AcceptHostKey)
		}
		req.HostKey = key
	}
	row := &db.InstanceRow{Instance: model.Instance{InstanceId: req.InstanceId, InstanceName: req.InstanceName,
		RegionId: req.RegionId, Host: req.Host, Port: req.Port, AdminUser: req.AdminUser, HostKey: req.HostKey, CreateTime: s.now()},
		AdminKey: req.AdminKey}
	// Prove the management login works before relying on it.
	c, err := ecs.Dial(ctx, targetOf(row))
	if err != nil {
		return nil, model.InvalidParam("AdminKeyFile", "%s", describeECSError("management login", row, err))
	}
	c.Close()
	err = r.write(ctx, func(tx *db.Tx) error {
		if existing, err := tx.Instance(req.InstanceId); errors.Is(err, db.ErrRowAuth) {
			return model.Errorf(model.CodeResourceExist, "The instance %s already exists, and its stored row fails authentication (edited outside kmsconsole?); remove it first: kmsconsole instance remove %s", req.InstanceId, req.InstanceId)
		} else if err != nil {
			return err
		} else if existing != nil {
			return model.Errorf(model.CodeResourceExist, "The instance %s already exists", req.InstanceId)
		}
		return tx.InsertInstance(row)
	})
	if err != nil {
		return nil, err
	}
	v := viewOf(row.Instance)
	return &v, nil
}

// Instances lists the instances of the service's region ("all" for every region).
func (s *Service) Instances(ctx context.Context, allRegions bool) ([]InstanceView, error) {
	var out []InstanceView
	err := s.store.Read(ctx, func(tx *db.Tx) error {
		region := s.opts.Region
		if allRegions {
			region = ""
		}
		list, err := tx.Instances(region)
		if err != nil {
			return err
		}
		for _, i := range list {
			v := viewOf(i)
			if v.ManagedSecrets, err = tx.CountSecretsOfInstance(i.InstanceId); err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	return out, model.Wrap(err)
}

// Instance shows one instance.
func (s *Service) Instance(ctx context.Context, id string) (*InstanceView, error) {
	if err := model.ValidateInstanceId(id); err != nil {
		return nil, err
	}
	var v *InstanceView
	err := s.store.Read(ctx, func(tx *db.Tx) error {
		r, err := tx.Instance(id)
		if err != nil {
			return err
		}
		if r == nil {
			return model.NotFound("The instance %s does not exist", id)
		}
		vv := viewOf(r.Instance)
		_, vv.AdminKeyFingerprint, _ = publicKeyOf(r.AdminKey)
		vv.ManagedSecrets, err = tx.CountSecretsOfInstance(id)
		v = &vv
		return err
	})
	return v, model.Wrap(err)
}

// CheckInstance dials the instance with its pinned key: nil means reachable
// and the management login works.
func (s *Service) CheckInstance(ctx context.Context, id string) error {
	var inst *db.InstanceRow
	err := s.store.Read(ctx, func(tx *db.Tx) error {
		var err error
		inst, err = tx.Instance(id)
		return err
	})
	if err != nil {
		return err
	}
	if inst == nil {
		return model.NotFound("The instance %s does not exist", id)
	}
	ctx, cancel := contextWithTimeout(ctx)
	defer cancel()
	if err := s.ecs.withClient(ctx, inst, func(c *ecs.Client) error { return nil }); err != nil {
		return fmt.Errorf("%s", describeECSError("connect", inst, err))
	}
	return nil
}

// RemoveInstance forgets an instance no secret manages.
func (s *Service) RemoveInstance(ctx context.Context, id string) error {
	err := s.handle(ctx, op{action: "RemoveInstance", target: id, perm: permAdmin, what: "remove instances", audit: true}, func(r *request) error {
		return s.removeInstance(ctx, r, id)
	})
	return err
}

func (s *Service) removeInstance(ctx context.Context, r *request, id string) error {
	if err := model.ValidateInstanceId(id); err != nil {
		return err
	}
	return r.write(ctx, func(tx *db.Tx) error {
		inst, err := tx.Instance(id)
		switch {
		case errors.Is(err, db.ErrRowAuth):
			// A row edited behind kmsconsole's back is never used, but
			// it can be removed, so that it can be added again.
			r.note("its stored row failed authentication")
		case err != nil:
			return err
		case inst == nil:
			return model.NotFound("The instance %s does not exist", id)
		}
		if holder, err := tx.LeaseHolder(adminKeyLease(id), time.Now()); err != nil {
			return err
		} else if holder != "" {
			return model.Errorf(model.CodeResourceInUse, "The admin key of instance %s is being rotated; try again when it is done", id)
		}
		n, err := tx.CountSecretsOfInstance(id)
		if err != nil {
			return err
		}
		if n > 0 {
			return model.Errorf(model.CodeResourceInUse, "The instance %s is managed by %d secret(s); delete them first", id, n)
		}
		s.ecs.forget(id)
		if err := tx.DeleteInstance(id); err != nil {
			return err
		}
		return nil
	})
}

// AddOperator registers an operator for serve mode.
func (s *Service) AddOperator(ctx context.Context, name, publicKey, role string) error {
	err := s.handle(ctx, op{action: "AddOperator", target: name, perm: permAdmin, what: "add operators", audit: true}, func(r *request) error {
		return s.addOperator(ctx, r, name, publicKey, role)
	})
	return err
}

func (s *Service) addOperator(ctx context.Context, r *request, name, publicKey, role string) error {
	if err := model.ValidateOperatorName(name); err != nil {
		return err
	}
	if err := model.ValidateRole(role); err != nil {
		return err
	}
	// The key line keeps its from= option (serve enforces it); any other
	// option is refused here, since nothing would enforce it.
	key, err := model.ParseOperatorKey(publicKey)
	if err != nil {
		return model.InvalidParam("Key", "%v", err)
	}
	line := key.Line()
	return r.write(ctx, func(tx *db.Tx) error {
		ops, err := tx.Operators()
		if err != nil {
			return err
		}
		for _, o := range ops {
			if o.Name == name {
				return model.Errorf(model.CodeResourceExist, "The operator %s already exists", name)
			}
			if pk, _, err := model.ParseOperatorKeyLine(o.PublicKey); err == nil && bytes.Equal(pk.Marshal(), key.Key.Marshal()) {
				return model.Errorf(model.CodeResourceExist, "That key already belongs to operator %s", o.Name)
			}
		}
		if err := tx.InsertOperator(model.Operator{Name: name, PublicKey: line, Role: role, CreateTime: s.now()}); err != nil {
			return err
		}
		return nil
	})
}

// Operators lists the registered operators.
func (s *Service) Operators(ctx context.Context) ([]model.Operator, error) {
	var out []model.Operator
	err := s.store.Read(ctx, func(tx *db.Tx) error {
		var err error
		out, err = tx.Operators()
		return err
	})
	return out, err
}

// OperatorByKey finds the operator whose public key this is; nil if none.
func (s *Service) OperatorByKey(ctx context.Context, key ssh.PublicKey) (*model.Operator, error) {
	ops, err := s.Operators(ctx)
	if err != nil {
		return nil, err
	}
	for _, o := range ops {
		if pk, _, err := model.ParseOperatorKeyLine(o.PublicKey); err == nil && bytes.Equal(pk.Marshal(), key.Marshal()) {
			return &o, nil
		}
	}
	return nil, nil
}

// SetOperatorRole changes an operator's role. Their consoles open in serve
// end within seconds (serve re-reads the registry), and every privileged
// action checks the new role at once.
func (s *Service) SetOperatorRole(ctx context.Context, name, role string) error {
	err := s.handle(ctx, op{action: "SetOperatorRole", target: name, perm: permAdmin, what: "change operator roles", audit: true}, func(r *request) error {
		return s.setOperatorRole(ctx, r, name, role)
	})
	return err
}

func (s *Service) setOperatorRole(ctx context.Context, r *request, name, role string) error {
	if err := model.ValidateOperatorName(name); err != nil {
		return err
	}
	if err := model.ValidateRole(role); err != nil {
		return err
	}
	return r.write(ctx, func(tx *db.Tx) error {
		ok, err := tx.SetOperatorRole(name, role)
		if err != nil {
			return err
		}
		if !ok {
			return model.NotFound("The operator %s does not exist", name)
		}
		return nil
	})
}

// RemoveOperator deletes an operator.
func (s *Service) RemoveOperator(ctx context.Context, name string) error {
	err := s.handle(ctx, op{action: "RemoveOperator", target: name, perm: permAdmin, what: "remove operators", audit: true}, func(r *request) error {
		return s.removeOperator(ctx, r, name)
	})
	return err
}

func (s *Service) removeOperator(ctx context.Context, r *request, name string) error {
	return r.write(ctx, func(tx *db.Tx) error {
		ok, err := tx.DeleteOperator(name)
		if err != nil {
			return err
		}
		if !ok {
			return model.NotFound("The operator %s does not exist", name)
		}
		return nil
	})
}
