package model

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The types SPEC §9 names, and nothing else.
func TestEventTypes(t *testing.T) {
	want := "RotationSucceeded RotationFailed RotationSettled SecretCreated SecretDeleted SecretRestored SecretPurged"
	if got := strings.Join(EventTypes, " "); got != want {
		t.Fatalf("event types %s, want %s", got, want)
	}
	if IsEventType("SecretRotated") || !IsEventType(EventSecretPurged) {
		t.Fatal("IsEventType")
	}
}

func TestEventValidate(t *testing.T) {
	at := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)
	ok := Event{Id: "7d3c9a1e-0000-4000-8000-000000000000", Type: EventRotationFailed, Time: at, SecretName: "app/db"}
	for _, c := range []struct {
		change func(*Event)
		want   string
	}{
		{func(*Event) {}, ""},
		{func(e *Event) { e.Id = "" }, "without Id"},
		{func(e *Event) { e.SecretName, e.Time = "", time.Time{} }, "without SecretName, Time"},
		{func(e *Event) { e.Type = "Rotated" }, `unknown event type "Rotated"`},
	} {
		e := ok
		c.change(&e)
		err := e.Validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", e, err, c.want)
		}
	}
}

// The JSON receivers get: the field names of SPEC §9, which the older
// --on-rotation-failure command also received; empty optional fields left out.
func TestEventJSON(t *testing.T) {
	e := Event{Id: "id-1", Type: EventRotationFailed, Time: time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC), SecretName: "acs/ecs/i-1/app",
		VersionId: "v3", Operator: "scheduler", InstanceId: "i-1", Step: "test", Reason: "the host refused the new password", Failures: 2}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Id":"id-1","Type":"RotationFailed","Time":"2026-11-22T02:00:00Z","SecretName":"acs/ecs/i-1/app","VersionId":"v3",` +
		`"Operator":"scheduler","InstanceId":"i-1","Step":"test","Reason":"the host refused the new password","Failures":2}`
	if string(b) != want {
		t.Fatalf("JSON\n%s\nwant\n%s", b, want)
	}
	b, _ = json.Marshal(Event{Id: "id-2", Type: EventSecretCreated, Time: e.Time, SecretName: "app/db", Operator: "alice"})
	if string(b) != `{"Id":"id-2","Type":"SecretCreated","Time":"2026-11-22T02:00:00Z","SecretName":"app/db","Operator":"alice"}` {
		t.Fatalf("JSON %s", b)
	}
}
