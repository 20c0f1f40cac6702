package model

import "sort"

// Built-in stage labels.
const (
	StageCurrent  = "ACSCurrent"
	StagePrevious = "ACSPrevious"
	// StagePending marks the version an ECS rotation is applying. It is
	// internal: callers can neither set nor read it.
	StagePending = "ACSPending"
)

// Labels maps each stage label of a secret to the VersionId it labels. Each
// label labels at most one version, so a map is the whole truth.
type Labels map[string]string

// Clone copies the labels so a rule can be tried without changing the input.
func (l Labels) Clone() Labels {
	c := make(Labels, len(l))
	for k, v := range l {
		c[k] = v
	}
	return c
}

// Of returns the labels on one version, sorted with ACS labels first.
func (l Labels) Of(versionId string) []string {
	var out []string
	for stage, v := range l {
		if v == versionId {
			out = append(out, stage)
		}
	}
	SortStages(out)
	return out
}

// SortStages orders ACSCurrent, ACSPrevious, ACSPending, then custom labels.
func SortStages(stages []string) {
	rank := func(s string) int {
		switch s {
		case StageCurrent:
			return 0
		case StagePrevious:
			return 1
		case StagePending:
			return 2
		}
		return 3
	}
	sort.Slice(stages, func(i, j int) bool {
		ri, rj := rank(stages[i]), rank(stages[j])
		if ri != rj {
			return ri < rj
		}
		return stages[i] < stages[j]
	})
}

// Move puts stage on version to. Moving ACSCurrent promotes: ACSPrevious moves
// onto the version that was current.
func (l Labels) Move(stage, to string) {
	if stage == StageCurrent {
		if old, ok := l[StageCurrent]; ok && old != to {
			l[StagePrevious] = old
		}
	}
	l[stage] = to
}

// CheckLimit refuses more than MaxStages distinct labels, not counting the
// internal pending label.
func (l Labels) CheckLimit() error {
	n := len(l)
	if _, ok := l[StagePending]; ok {
		n--
	}
	if n > MaxStages {
		return Errorf(CodeLimitExceeded, "a secret has at most %d stage labels", MaxStages)
	}
	return nil
}

// VersionAge is what eviction needs to know of a version: its id and its
// creation order.
type VersionAge struct {
	VersionId string
	Seq       int64
}

// Evict returns the versions to drop so that at most MaxVersions remain,
// oldest deprecated (unlabelled) first. It never evicts a labelled version;
// when that is not enough it returns a LimitExceeded error.
func Evict(versions []VersionAge, l Labels) ([]string, error) {
	excess := len(versions) - MaxVersions
	if excess <= 0 {
		return nil, nil
	}
	labelled := make(map[string]bool, len(l))
	for _, v := range l {
		labelled[v] = true
	}
	sorted := append([]VersionAge(nil), versions...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Seq < sorted[j].Seq })
	var out []string
	for _, v := range sorted {
		if len(out) == excess {
			break
		}
		if !labelled[v.VersionId] {
			out = append(out, v.VersionId)
		}
	}
	if len(out) < excess {
		return nil, Errorf(CodeLimitExceeded, "a secret keeps at most %d versions and every version has a stage label; move or remove a label first", MaxVersions)
	}
	return out, nil
}
