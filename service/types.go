package service

// Request and response types. Field names are the cloud KMS parameter and
// result names: the CLI decodes "--Name value" straight into the field of the
// same name (or the `param` tag), and responses marshal to the cloud's JSON.

// Stages is the cloud's {"VersionStage":[...]} wrapper.
type Stages struct {
	VersionStage []string `json:"VersionStage"`
}

type CreateSecretRequest struct {
	SecretName              string
	SecretData              string
	VersionId               string
	SecretDataType          string
	Description             string
	SecretType              string
	ExtendedConfig          string
	EnableAutomaticRotation bool
	RotationInterval        string
	// RotationSchedule is rate(N days|hours) or cron(…) (SPEC §9), instead
	// of RotationInterval; RotationWindow (1h–24h) bounds when it may start.
	RotationSchedule string
	RotationWindow   string
}

type CreateSecretResponse struct {
	RequestId               string
	Arn                     string
	SecretName              string
	VersionId               string
	SecretType              string
	AutomaticRotation       string
	RotationInterval        string `json:",omitempty"`
	RotationSchedule        string `json:",omitempty"`
	RotationWindow          string `json:",omitempty"`
	NextRotationWindowStart string `json:",omitempty"`
	NextRotationWindowEnd   string `json:",omitempty"`
	NextRotationDate        string `json:",omitempty"`
	ExtendedConfig          string `json:",omitempty"`
	// Warning says what the caller should know although the secret was
	// created (e.g. the initial ECS credential does not log in).
	Warning string `json:",omitempty"`
}

type GetSecretValueRequest struct {
	SecretName          string
	VersionId           string
	VersionStage        string
	FetchExtendedConfig bool
	// Purpose says how the value is used, for the audit record ("console
	// reveal", "console copy"); empty for an API read.
	Purpose string `param:"-" json:"-"`
}

type GetSecretValueResponse struct {
	RequestId         string
	SecretName        string
	VersionId         string
	CreateTime        string
	SecretData        string
	SecretDataType    string
	VersionStages     Stages
	SecretType        string
	AutomaticRotation string
	RotationInterval  string `json:",omitempty"`
	LastRotationDate  string `json:",omitempty"`
	NextRotationDate  string `json:",omitempty"`
	ExtendedConfig    string `json:",omitempty"`
}

type PutSecretValueRequest struct {
	SecretName     string
	VersionId      string
	SecretData     string
	SecretDataType string
	VersionStages  []string
}

type PutSecretValueResponse struct {
	RequestId     string
	SecretName    string
	VersionId     string
	VersionStages Stages
}

type UpdateSecretVersionStageRequest struct {
	SecretName        string
	VersionStage      string
	RemoveFromVersion string
	MoveToVersion     string
}

// NameResponse is the answer of actions that return only the name.
type NameResponse struct {
	RequestId  string
	SecretName string
}

type GetRandomPasswordRequest struct {
	PasswordLength          int
	ExcludeCharacters       string
	ExcludeLowercase        bool
	ExcludeUppercase        bool
	ExcludeNumbers          bool
	ExcludePunctuation      bool
	RequireEachIncludedType *bool
}

type GetRandomPasswordResponse struct {
	RequestId      string
	RandomPassword string
}

// Filter is one ListSecrets filter.
type Filter struct {
	Key    string
	Values []string
}

type ListSecretsRequest struct {
	PageNumber int
	PageSize   int
	Filters    []Filter
}

type SecretListEntry struct {
	SecretName        string
	SecretType        string
	CreateTime        string
	UpdateTime        string
	PlannedDeleteTime string `json:",omitempty"`
}

type ListSecretsResponse struct {
	RequestId  string
	PageNumber int
	PageSize   int
	TotalCount int
	SecretList struct {
		Secret []SecretListEntry
	}
}

type SecretNameRequest struct {
	SecretName string
}

type DescribeSecretResponse struct {
	RequestId               string
	Arn                     string
	SecretName              string
	Description             string
	CreateTime              string
	UpdateTime              string
	PlannedDeleteTime       string `json:",omitempty"`
	SecretType              string
	AutomaticRotation       string
	RotationInterval        string `json:",omitempty"`
	RotationSchedule        string `json:",omitempty"`
	RotationWindow          string `json:",omitempty"`
	NextRotationWindowStart string `json:",omitempty"`
	NextRotationWindowEnd   string `json:",omitempty"`
	LastRotationDate        string `json:",omitempty"`
	NextRotationDate        string `json:",omitempty"`
	ExtendedConfig          string `json:",omitempty"`
	// RotationFailureReason says why the last rotation failed while
	// AutomaticRotation is Invalid.
	RotationFailureReason string `json:",omitempty"`
}

type ListSecretVersionIdsRequest struct {
	SecretName        string
	IncludeDeprecated bool
	PageNumber        int
	PageSize          int
}

type VersionEntry struct {
	VersionId     string
	CreateTime    string
	VersionStages Stages
}

type ListSecretVersionIdsResponse struct {
	RequestId  string
	SecretName string
	PageNumber int
	PageSize   int
	TotalCount int
	VersionIds struct {
		VersionId []VersionEntry
	}
}

type UpdateSecretRequest struct {
	SecretName  string
	Description *string
	CustomData  string `param:"ExtendedConfig.CustomData"`
}

type UpdateSecretRotationPolicyRequest struct {
	SecretName              string
	EnableAutomaticRotation *bool
	RotationInterval        string
	// RotationSchedule is rate(N days|hours) or cron(…) (SPEC §9), instead
	// of RotationInterval; RotationWindow (1h–24h) bounds when it may start.
	RotationSchedule string
	RotationWindow   string
}

type RotateSecretRequest struct {
	SecretName string
	VersionId  string
	SecretData string
	// Progress, when set, is told each step as it starts (console).
	Progress func(step string) `param:"-" json:"-"`
	// held is the rotation lease when the caller (the scheduler) already
	// took it to re-check that the secret is still due.
	held *lease
}

type RotateSecretResponse struct {
	RequestId  string
	Arn        string
	SecretName string
	VersionId  string
	// RemovedKeyLines (key pairs only) counts the authorized_keys lines
	// of the previous key that the rotation removed.
	RemovedKeyLines *int   `json:",omitempty"`
	Warning         string `json:",omitempty"`
}

type DeleteSecretRequest struct {
	SecretName                 string
	RecoveryWindowInDays       *int
	ForceDeleteWithoutRecovery bool
}

type DeleteSecretResponse struct {
	RequestId         string
	SecretName        string
	PlannedDeleteTime string
}
