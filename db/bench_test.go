package db

import (
	"context"
	"testing"

	"kmsconsole/model"
)

// Reading a secret's labels is on the GetSecretValue path; each label is
// verified against its MAC.
func BenchmarkLabels(b *testing.B) {
	s, err := Open(b.TempDir()+"/kms.db", "")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	row := &SecretRow{Secret: model.Secret{Name: "app/db", Type: model.Generic, RegionId: "r", DataType: model.DataText}}
	err = s.Write(ctx, func(tx *Tx) error {
		if row.ID, err = tx.InsertSecret(row); err != nil {
			return err
		}
		for _, v := range []string{"v1", "v2"} {
			if err := tx.InsertVersion(row, v, "value", model.DataText, row.CreateTime); err != nil {
				return err
			}
		}
		return tx.SetLabels(row.ID, nil, model.Labels{model.StageCurrent: "v2", model.StagePrevious: "v1"})
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		err := s.Read(ctx, func(tx *Tx) error {
			l, err := tx.Labels(row.ID)
			if err == nil && len(l) != 2 {
				b.Fatalf("labels %v", l)
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
