package model

import "testing"

// Ambiguous JSON must be refused: a value has to mean the same to every reader.
func TestECSDataRefusesAmbiguousJSON(t *testing.T) {
	for _, s := range []string{
		`{"UserName":"root","Password":"p1"} trailing`,
		`{"UserName":"root","Password":"p1"}{"UserName":"admin","Password":"p2"}`,
		`{"UserName":"root","Password":"p1","password":"p2"}`,
		`{"UserName":"root","Password":"p1","Password":"p2"}`,
		`{"username":"root","Password":"p1"}`,
	} {
		if _, err := ParseECSData(s, SubTypePassword); !IsCode(err, CodeInvalidParameter) {
			t.Errorf("%s: accepted (%v)", s, err)
		}
	}
	if _, err := ParseECSConfig(`{"SecretSubType":"Password","InstanceId":"i-1","RegionId":"cn-hangzhou"} x`); err == nil {
		t.Error("config with trailing data accepted")
	}
	if _, err := ParseECSConfig(`{"SecretSubType":"Password","InstanceId":"i-1","RegionId":"cn-hangzhou","CustomData":{"a":{"InstanceId":1}}}`); err != nil {
		t.Errorf("nested CustomData keys must not count as top-level: %v", err)
	}
	d, err := ParseECSData(`{"UserName":"root","Password":"p1"}`, SubTypePassword)
	if err != nil || d.Password != "p1" {
		t.Fatalf("plain data refused: %v", err)
	}
}
