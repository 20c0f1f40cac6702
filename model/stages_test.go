package model

import (
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"testing"
)

func TestLabelsMove(t *testing.T) {
	tests := []struct {
		name  string
		start Labels
		stage string
		to    string
		want  Labels
	}{
		{"first current", Labels{}, StageCurrent, "v1",
			Labels{StageCurrent: "v1"}},
		{"promote sets previous", Labels{StageCurrent: "v1"}, StageCurrent, "v2",
			Labels{StageCurrent: "v2", StagePrevious: "v1"}},
		{"promote moves previous", Labels{StageCurrent: "v2", StagePrevious: "v1"}, StageCurrent, "v3",
			Labels{StageCurrent: "v3", StagePrevious: "v2"}},
		{"promote the previous back", Labels{StageCurrent: "v2", StagePrevious: "v1"}, StageCurrent, "v1",
			Labels{StageCurrent: "v1", StagePrevious: "v2"}},
		{"same version: no-op", Labels{StageCurrent: "v2", StagePrevious: "v1"}, StageCurrent, "v2",
			Labels{StageCurrent: "v2", StagePrevious: "v1"}},
		{"same version, no previous yet", Labels{StageCurrent: "v1"}, StageCurrent, "v1",
			Labels{StageCurrent: "v1"}},
		{"custom label moves", Labels{StageCurrent: "v1", "MyPendingLabel": "v1"}, "MyPendingLabel", "v2",
			Labels{StageCurrent: "v1", "MyPendingLabel": "v2"}},
		{"new custom label", Labels{StageCurrent: "v1"}, "MyPendingLabel", "v2",
			Labels{StageCurrent: "v1", "MyPendingLabel": "v2"}},
		{"moving previous leaves current", Labels{StageCurrent: "v2", StagePrevious: "v1"}, StagePrevious, "v0",
			Labels{StageCurrent: "v2", StagePrevious: "v0"}},
		{"custom label moves with promote untouched", Labels{StageCurrent: "v1", StagePrevious: "v0", "L": "v0"}, StageCurrent, "v2",
			Labels{StageCurrent: "v2", StagePrevious: "v1", "L": "v0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.start.Clone()
			l.Move(tc.stage, tc.to)
			if !reflect.DeepEqual(l, tc.want) {
				t.Errorf("after Move(%s, %s): %v, want %v", tc.stage, tc.to, l, tc.want)
			}
		})
	}
}

func TestLabelsMoveCustomRemovesFromOldVersion(t *testing.T) {
	l := Labels{StageCurrent: "v1", "MyPendingLabel": "v1", "Other": "v2"}
	l.Move("MyPendingLabel", "v2")
	if got := l.Of("v1"); !reflect.DeepEqual(got, []string{StageCurrent}) {
		t.Errorf("v1 labels = %v, want [ACSCurrent]", got)
	}
	if got := l.Of("v2"); !reflect.DeepEqual(got, []string{"MyPendingLabel", "Other"}) {
		t.Errorf("v2 labels = %v, want [MyPendingLabel Other]", got)
	}
	if _, ok := l[StagePrevious]; ok {
		t.Error("moving a custom label set ACSPrevious")
	}
}

func TestLabelsClone(t *testing.T) {
	l := Labels{StageCurrent: "v1"}
	c := l.Clone()
	c.Move(StageCurrent, "v2")
	if !reflect.DeepEqual(l, Labels{StageCurrent: "v1"}) {
		t.Errorf("Clone shares storage: original became %v", l)
	}
	if got := Labels(nil).Clone(); got == nil || len(got) != 0 {
		t.Errorf("Clone of nil = %#v, want an empty usable map", got)
	}
}

func labelsWith(n int, extra ...string) Labels {
	l := Labels{StageCurrent: "v1", StagePrevious: "v0"}
	for i := 0; len(l) < n; i++ {
		l[fmt.Sprintf("Label%d", i)] = "v2"
	}
	for _, e := range extra {
		l[e] = "v3"
	}
	return l
}

func TestLabelsCheckLimit(t *testing.T) {
	tests := []struct {
		name string
		l    Labels
		code string
	}{
		{"empty", Labels{}, ok},
		{"one", Labels{StageCurrent: "v1"}, ok},
		{"eight", labelsWith(8), ok},
		{"nine", labelsWith(9), CodeLimitExceeded},
		{"ten", labelsWith(10), CodeLimitExceeded},
		{"eight plus pending", labelsWith(8, StagePending), ok},
		{"nine plus pending", labelsWith(9, StagePending), CodeLimitExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check(t, tc.l.CheckLimit(), tc.code, "")
		})
	}
}

func TestLabelsOfSortsACSFirst(t *testing.T) {
	l := Labels{
		"zeta": "v1", StagePending: "v1", "alpha": "v1", StagePrevious: "v1",
		StageCurrent: "v1", "AAA": "v1", "other": "v2",
	}
	want := []string{StageCurrent, StagePrevious, StagePending, "AAA", "alpha", "zeta"}
	for i := 0; i < 20; i++ { // map order is random; ask several times
		if got := l.Of("v1"); !reflect.DeepEqual(got, want) {
			t.Fatalf("Of(v1) = %v, want %v", got, want)
		}
	}
	if got := l.Of("v2"); !reflect.DeepEqual(got, []string{"other"}) {
		t.Errorf("Of(v2) = %v", got)
	}
	if got := l.Of("nope"); len(got) != 0 {
		t.Errorf("Of(unlabelled) = %v, want none", got)
	}
}

func TestSortStages(t *testing.T) {
	s := []string{"b", "ACSPrevious", "a", "ACSCurrent", "ABC"}
	SortStages(s)
	if want := []string{"ACSCurrent", "ACSPrevious", "ABC", "a", "b"}; !reflect.DeepEqual(s, want) {
		t.Errorf("SortStages = %v, want %v", s, want)
	}
}

func versions(n int) []VersionAge {
	out := make([]VersionAge, n)
	for i := range out {
		out[i] = VersionAge{VersionId: fmt.Sprintf("v%d", i+1), Seq: int64(i + 1)}
	}
	return out
}

func TestEvict(t *testing.T) {
	cur := Labels{StageCurrent: "v11", StagePrevious: "v10"}
	shuffled := versions(11)
	shuffled[0], shuffled[7] = shuffled[7], shuffled[0]
	shuffled[3], shuffled[10] = shuffled[10], shuffled[3]
	// Ids that do not sort like their Seq: eviction must follow Seq.
	oddIds := []VersionAge{{"zzz", 1}, {"aaa", 5}}
	for i := 2; i <= 10; i++ {
		oddIds = append(oddIds, VersionAge{fmt.Sprintf("m%02d", i), int64(i * 10)})
	}
	tests := []struct {
		name     string
		versions []VersionAge
		labels   Labels
		want     []string
		code     string
	}{
		{"none", nil, Labels{}, nil, ok},
		{"ten", versions(10), Labels{StageCurrent: "v10"}, nil, ok},
		{"ten all labelled", versions(10), allLabelled(10), nil, ok},
		{"eleven", versions(11), cur, []string{"v1"}, ok},
		{"eleven, oldest labelled", versions(11), Labels{StageCurrent: "v11", "Keep": "v1"}, []string{"v2"}, ok},
		{"eleven, oldest three labelled", versions(11), Labels{StageCurrent: "v1", StagePrevious: "v2", StagePending: "v3"}, []string{"v4"}, ok},
		{"input order is not age", shuffled, cur, []string{"v1"}, ok},
		{"seq decides, not id", oddIds, Labels{StageCurrent: "m10"}, []string{"zzz"}, ok},
		{"twelve", versions(12), cur, []string{"v1", "v2"}, ok},
		{"twelve, skip labelled", versions(12), Labels{StageCurrent: "v12", "A": "v1", "B": "v3"}, []string{"v2", "v4"}, ok},
		{"eleven all labelled", versions(11), allLabelled(11), nil, CodeLimitExceeded},
		{"twelve, one unlabelled", versions(12), allBut(12, "v5"), nil, CodeLimitExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Evict(tc.versions, tc.labels)
			check(t, err, tc.code, "")
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Evict = %v, want %v", got, tc.want)
			}
		})
	}
}

func allLabelled(n int) Labels { return allBut(n, "") }

func allBut(n int, skip string) Labels {
	l := Labels{}
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("v%d", i)
		if id != skip {
			l[fmt.Sprintf("L%d", i)] = id
		}
	}
	return l
}

// TestEvictProperties checks on random histories that eviction brings the
// count to MaxVersions, never drops a labelled version, and drops the oldest
// unlabelled ones.
func TestEvictProperties(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for trial := 0; trial < 2000; trial++ {
		n := r.Intn(20)
		vs := versions(n)
		r.Shuffle(len(vs), func(i, j int) { vs[i], vs[j] = vs[j], vs[i] })
		l := Labels{}
		for k := 0; k < r.Intn(10) && n > 0; k++ {
			l.Move(fmt.Sprintf("L%d", k), vs[r.Intn(n)].VersionId)
		}
		input := append([]VersionAge(nil), vs...)
		got, err := Evict(vs, l)
		if !slices.Equal(vs, input) {
			t.Fatal("Evict reordered its input")
		}
		labelled := map[string]bool{}
		for _, v := range l {
			labelled[v] = true
		}
		var unlabelled []string // oldest first
		for i := 1; i <= n; i++ {
			if id := fmt.Sprintf("v%d", i); !labelled[id] {
				unlabelled = append(unlabelled, id)
			}
		}
		excess := n - MaxVersions
		switch {
		case excess <= 0:
			if err != nil || got != nil {
				t.Fatalf("n=%d: got %v, %v; want nothing", n, got, err)
			}
		case len(unlabelled) < excess:
			if !IsCode(err, CodeLimitExceeded) || got != nil {
				t.Fatalf("n=%d, %d unlabelled: got %v, %v; want LimitExceeded", n, len(unlabelled), got, err)
			}
		default:
			if err != nil {
				t.Fatalf("n=%d: %v", n, err)
			}
			if !reflect.DeepEqual(got, unlabelled[:excess]) {
				t.Fatalf("n=%d labels=%v: evicted %v, want %v", n, l, got, unlabelled[:excess])
			}
		}
	}
}
