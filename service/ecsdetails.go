package service

import (
	"context"
	"encoding/json"

	"kmsconsole/db"
	"kmsconsole/model"
)

// ManagedCredential is what the console shows about an ECS secret's
// credential without reading its value: the OS user, the kind of
// credential, the instance, and for a key pair the public key's
// fingerprint. None of it is secret; the password or private key never
// leaves the service, so this is not a read of the value (not audited as
// one) and readonly operators see it too.
type ManagedCredential struct {
	UserName string
	SubType  string // model.SubTypePassword or model.SubTypeSSHKey
	// KeyFingerprint is the ACSCurrent public key's SHA256 fingerprint
	// (key pairs only).
	KeyFingerprint string
	KeyType        string
	Instance       model.Instance
	// InstanceMissing: the instance was removed from the registry.
	InstanceMissing bool
}

// ManagedCredential describes the credential an ECS secret manages, from
// its ACSCurrent version; nil for a generic secret.
func (s *Service) ManagedCredential(ctx context.Context, name string) (*ManagedCredential, error) {
	var out *ManagedCredential
	err := s.handle(ctx, op{action: "DescribeManagedCredential", target: name, perm: permList}, func(r *request) error {
		return s.store.Read(ctx, func(tx *db.Tx) error {
			sec, err := loadSecret(tx, name, true)
			if err != nil || sec.Type != model.ECS {
				return err
			}
			cfg, err := model.ParseECSConfig(sec.ExtendedConfig)
			if err != nil {
				return err
			}
			out = &ManagedCredential{SubType: cfg.SecretSubType}
			labels, err := tx.Labels(sec.ID)
			if err != nil {
				return err
			}
			if vid := labels[model.StageCurrent]; vid != "" {
				v, err := tx.Version(sec, vid)
				if err != nil {
					return err
				}
				var d model.ECSData
				if v != nil && json.Unmarshal([]byte(v.Data), &d) == nil {
					out.UserName = d.UserName
					if pk, _, err := model.ParseUserPublicKey("PublicKey", d.PublicKey); err == nil && d.PublicKey != "" {
						out.KeyFingerprint, out.KeyType = model.KeyFingerprint(pk), pk.Type()
					}
				}
			}
			inst, err := tx.Instance(cfg.InstanceId)
			if err != nil {
				return err
			}
			if inst == nil {
				out.Instance, out.InstanceMissing = model.Instance{InstanceId: cfg.InstanceId, RegionId: cfg.RegionId}, true
			} else {
				out.Instance = inst.Instance
			}
			return nil
		})
	})
	return out, err
}
