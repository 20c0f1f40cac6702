package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"kmsconsole/model"
)

// Actions are the API actions of SPEC §2, the only ones kmsconsole serves
// and so the only ones a policy may name without a wildcard.
var Actions = []string{
	"CreateSecret", "GetSecretValue", "PutSecretValue", "UpdateSecretVersionStage",
	"GetRandomPassword", "ListSecrets", "DescribeSecret", "ListSecretVersionIds",
	"UpdateSecret", "UpdateSecretRotationPolicy", "RotateSecret", "DeleteSecret",
	"RestoreSecret",
}

// MaxPolicyLen is RAM's limit on a custom policy document, in characters.
const MaxPolicyLen = 6144

// Effect of a statement.
type Effect string

const (
	Allow Effect = "Allow"
	Deny  Effect = "Deny"
)

// Statement is one statement of a policy. Actions and Resources are as
// written in the document.
type Statement struct {
	Effect    Effect
	Actions   []string
	Resources []string

	actions []string // lower-case patterns, "kms:" prefixed unless "*"
}

// Policy is a parsed RAM policy (the subset of SPEC §7).
type Policy struct {
	Version    string // "1" or "" when the document omits it
	Statements []Statement
}

// MarshalJSON writes the policy back in RAM's grammar (lists always).
func (p *Policy) MarshalJSON() ([]byte, error) {
	type st struct {
		Effect   Effect
		Action   []string
		Resource []string
	}
	doc := struct {
		Version   string `json:",omitempty"`
		Statement []st
	}{Version: p.Version}
	for _, s := range p.Statements {
		doc.Statement = append(doc.Statement, st{s.Effect, s.Actions, s.Resources})
	}
	return json.Marshal(doc)
}

// SecretARN is a secret's ARN exactly as CreateSecret returns it
// (service.Arn): acs:kms:<region>:local:secret/<name>.
func SecretARN(region, name string) string {
	return "acs:kms:" + region + ":local:secret/" + name
}

// SecretContainerARN is the ARN of all the secrets of a region as one
// resource: acs:kms:<region>:local:secret. The cloud's KMS RAM documentation
// lists this "secret container" (acs:kms:${region}:${account}:secret) as a
// resource type, the one of listing secrets.
func SecretContainerARN(region string) string {
	return "acs:kms:" + region + ":local:secret"
}

// RequestResource is the resource a request is authorised against:
//
//   - ListSecrets: the secret container, SecretContainerARN(region). It is
//     not a secret, so "acs:kms:*:*:secret/*" does not cover it, while "*",
//     "acs:kms:*:*:*" and "acs:kms:*:*:secret" do.
//   - GetRandomPassword, which touches no resource at all: "*". Pattern
//     matching is literal, so only a statement whose Resource matches the
//     string "*" — in practice Resource "*" itself — covers it, the way
//     RAM treats actions without a resource type.
//   - every other action: the secret's ARN, SecretARN(region, secretName)
//     (for CreateSecret, the ARN the new secret will have).
func RequestResource(action, region, secretName string) string {
	switch {
	case strings.EqualFold(action, "ListSecrets"):
		return SecretContainerARN(region)
	case strings.EqualFold(action, "GetRandomPassword"):
		return "*"
	}
	return SecretARN(region, secretName)
}

// Allowed reports whether the policy lets action (an API action name such as
// "GetSecretValue", or "kms:GetSecretValue") act on resource (see
// RequestResource). A statement applies when one of its actions and one of
// its resources match; any applying Deny refuses, else any applying Allow
// allows, else nothing is allowed. A nil policy allows nothing.
//
// Actions match case-insensitively, as in AWS IAM, whose grammar RAM
// copies: no two actions differ only by case, so this can only make
// "kms:getsecretvalue" mean what its writer meant. Resources (secret names)
// are case-sensitive, as secret names are. In both, '*' matches any run of
// characters ('/' included, none at all too) and '?' exactly one.
func (p *Policy) Allowed(action, resource string) bool {
	if p == nil {
		return false
	}
	act := strings.ToLower(action)
	if !strings.Contains(act, ":") {
		act = "kms:" + act
	}
	allowed := false
	for i := range p.Statements {
		st := &p.Statements[i]
		if !st.matches(act, resource) {
			continue
		}
		if st.Effect == Deny {
			return false
		}
		allowed = true
	}
	return allowed
}

func (st *Statement) matches(action, resource string) bool {
	acts := st.actions
	if acts == nil { // a Statement built by hand, not by ParsePolicy
		for _, a := range st.Actions {
			a = strings.ToLower(a)
			if a != "*" && !strings.Contains(a, ":") {
				a = "kms:" + a
			}
			acts = append(acts, a)
		}
	}
	hit := false
	for _, a := range acts {
		if a == "*" || glob(a, action) {
			hit = true
			break
		}
	}
	if !hit {
		return false
	}
	for _, r := range st.Resources {
		if glob(r, resource) {
			return true
		}
	}
	return false
}

// glob matches s against a pattern with '*' (any run, even empty) and '?'
// (one character). Greedy with backtracking to the last '*': O(len·len) at
// worst, on strings of a few hundred bytes.
func glob(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		if p < len(pattern) {
			switch c := pattern[p]; {
			case c == '*':
				star, mark = p, i
				p++
				continue
			case c == '?':
				_, n := utf8.DecodeRuneInString(s[i:])
				p, i = p+1, i+n
				continue
			case c == s[i]:
				p, i = p+1, i+1
				continue
			}
		}
		if star < 0 {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[mark:])
		mark += n
		p, i = star+1, mark
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// ParsePolicy parses a policy document strictly: a JSON object with an
// optional "Version" ("1", the only RAM version) and a non-empty "Statement"
// list of objects with "Effect" ("Allow" or "Deny"), "Action" and "Resource"
// (each a string or a non-empty list of strings). Field names are
// case-sensitive, a field given twice, an unknown field, RAM elements
// kmsconsole does not implement (NotAction, NotResource, Condition,
// Principal), an action that is not kms:<name> or "*", a literal action
// kmsconsole does not serve (a likely typo, which in a Deny would deny
// nothing), and a resource that cannot name a kmsconsole secret are all
// refused with an InvalidParameter error naming the parameter Policy and the
// place (e.g. Statement[2].Effect).
func ParsePolicy(doc []byte) (*Policy, error) {
	if n := utf8.RuneCount(doc); n > MaxPolicyLen {
		return nil, policyErr("the document has %d characters; at most %d", n, MaxPolicyLen)
	}
	if !utf8.Valid(doc) {
		return nil, policyErr("the document is not UTF-8")
	}
	if len(bytes.TrimSpace(doc)) == 0 {
		return nil, policyErr("the document is empty")
	}
	if !json.Valid(doc) {
		var v any
		err := json.Unmarshal(doc, &v)
		if err == nil {
			err = fmt.Errorf("trailing data after the JSON value")
		}
		return nil, policyErr("not JSON: %v", err)
	}
	top, err := object(doc, "the document")
	if err != nil {
		return nil, err
	}
	p := &Policy{}
	for _, f := range top {
		switch f.name {
		case "Version":
			var v string
			if json.Unmarshal(f.value, &v) != nil || v != "1" {
				return nil, policyErr("Version must be \"1\", got %s", short(f.value))
			}
			p.Version = v
		case "Statement":
			sts, err := statements(f.value)
			if err != nil {
				return nil, err
			}
			p.Statements = sts
		default:
			return nil, policyErr("unknown field %q at the top level: a policy has Version and Statement", f.name)
		}
	}
	if p.Statements == nil {
		return nil, policyErr("Statement is missing")
	}
	return p, nil
}

func statements(raw json.RawMessage) ([]Statement, error) {
	if firstByte(raw) != '[' {
		return nil, policyErr("Statement must be a list of statements, got %s", short(raw))
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, policyErr("Statement: %v", err)
	}
	if len(items) == 0 {
		return nil, policyErr("Statement is empty: a policy needs at least one statement")
	}
	out := make([]Statement, 0, len(items))
	for i, item := range items {
		where := fmt.Sprintf("Statement[%d]", i)
		st, err := statement(item, where)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

func statement(raw json.RawMessage, where string) (Statement, error) {
	var st Statement
	fields, err := object(raw, where)
	if err != nil {
		return st, err
	}
	seen := map[string]bool{}
	for _, f := range fields {
		seen[f.name] = true
		at := where + "." + f.name
		switch f.name {
		case "Effect":
			var e string
			if json.Unmarshal(f.value, &e) != nil || (e != string(Allow) && e != string(Deny)) {
				return st, policyErr("%s must be \"Allow\" or \"Deny\", got %s", at, short(f.value))
			}
			st.Effect = Effect(e)
		case "Action":
			if st.Actions, err = stringList(f.value, at); err != nil {
				return st, err
			}
			for j, a := range st.Actions {
				norm, err := checkAction(a, fmt.Sprintf("%s[%d]", at, j))
				if err != nil {
					return st, err
				}
				st.actions = append(st.actions, norm)
			}
		case "Resource":
			if st.Resources, err = stringList(f.value, at); err != nil {
				return st, err
			}
			for j, r := range st.Resources {
				if err := checkResource(r, fmt.Sprintf("%s[%d]", at, j)); err != nil {
					return st, err
				}
			}
		case "NotAction", "NotResource", "Condition", "Principal":
			return st, policyErr("%s: kmsconsole does not support %s; use Action, Resource and a Deny statement", at, f.name)
		default:
			return st, policyErr("unknown field %q in %s: a statement has Effect, Action and Resource", f.name, where)
		}
	}
	for _, k := range []string{"Effect", "Action", "Resource"} {
		if !seen[k] {
			return st, policyErr("%s has no %s", where, k)
		}
	}
	return st, nil
}

func checkAction(a, at string) (string, error) {
	if a == "*" {
		return a, nil
	}
	svc, name, ok := strings.Cut(a, ":")
	if !ok {
		return "", policyErr("%s %q must be written kms:<Action> (e.g. kms:%s) or *", at, a, a)
	}
	if !strings.EqualFold(svc, "kms") {
		return "", policyErr("%s %q is not a KMS action: kmsconsole serves only kms:<Action>", at, a)
	}
	if name == "" {
		return "", policyErr("%s %q has no action name", at, a)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '*' || r == '?') {
			return "", policyErr("%s %q: an action name has letters, digits and the wildcards * and ?, found %q", at, a, r)
		}
	}
	if !strings.ContainsAny(name, "*?") {
		known := false
		for _, k := range Actions {
			if strings.EqualFold(k, name) {
				known = true
				break
			}
		}
		if !known {
			return "", policyErr("%s %q is not an action kmsconsole serves (%s)", at, a, strings.Join(Actions, ", "))
		}
	}
	return "kms:" + strings.ToLower(name), nil
}

func checkResource(r, at string) error {
	if r == "*" {
		return nil
	}
	bad := func(why string) error {
		return policyErr("%s %q %s: write a secret ARN as CreateSecret returns it, acs:kms:<region>:local:secret/<name>, with * and ? as wildcards, or *", at, r, why)
	}
	parts := strings.SplitN(r, ":", 5)
	if len(parts) != 5 || parts[0] != "acs" {
		return bad("is not an ARN")
	}
	if !glob(parts[1], "kms") {
		return bad("is not a KMS resource")
	}
	if !strings.ContainsAny(parts[3], "*?") && parts[3] != "local" {
		return bad("names the account " + parts[3] + " (kmsconsole's account is \"local\")")
	}
	rel := parts[4]
	if rel == "" {
		return bad("has no resource part")
	}
	lit := rel
	if i := strings.IndexAny(rel, "*?"); i >= 0 {
		lit = rel[:i]
	}
	if !strings.HasPrefix(lit, "secret") && !strings.HasPrefix("secret", lit) {
		return bad("is not a secret (kmsconsole has only secrets)")
	}
	return nil
}

type field struct {
	name  string
	value json.RawMessage
}

// object decodes a JSON object keeping its fields in order and refusing a
// field given twice (encoding/json would silently keep the last one, and
// matches names case-insensitively).
func object(raw []byte, where string) ([]field, error) {
	if firstByte(raw) != '{' {
		return nil, policyErr("%s must be a JSON object, got %s", where, short(raw))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // '{'
		return nil, policyErr("%s: %v", where, err)
	}
	var out []field
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, policyErr("%s: %v", where, err)
		}
		name, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, policyErr("%s.%s: %v", where, name, err)
		}
		if seen[name] {
			return nil, policyErr("%s gives %q twice", where, name)
		}
		seen[name] = true
		out = append(out, field{name, v})
	}
	if _, err := dec.Token(); err != nil && err != io.EOF { // '}'
		return nil, policyErr("%s: %v", where, err)
	}
	return out, nil
}

func stringList(raw json.RawMessage, at string) ([]string, error) {
	var list []string
	switch firstByte(raw) {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, policyErr("%s: %v", at, err)
		}
		list = []string{s}
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, policyErr("%s: %v", at, err)
		}
		if len(items) == 0 {
			return nil, policyErr("%s is an empty list", at)
		}
		for j, it := range items {
			var s string
			if firstByte(it) != '"' || json.Unmarshal(it, &s) != nil {
				return nil, policyErr("%s[%d] must be a string, got %s", at, j, short(it))
			}
			list = append(list, s)
		}
	default:
		return nil, policyErr("%s must be a string or a list of strings, got %s", at, short(raw))
	}
	for j, s := range list {
		if strings.TrimSpace(s) == "" {
			return nil, policyErr("%s[%d] is empty", at, j)
		}
		if s != strings.TrimSpace(s) {
			return nil, policyErr("%s[%d] %q has spaces around it", at, j, s)
		}
	}
	return list, nil
}

func firstByte(raw []byte) byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

// short is a JSON value for a message, cut to 40 characters.
func short(raw []byte) string {
	s := string(bytes.TrimSpace(raw))
	if utf8.RuneCountInString(s) > 40 {
		s = string([]rune(s)[:40]) + "…"
	}
	return s
}

func policyErr(format string, args ...any) error {
	return model.InvalidParam("Policy", format, args...)
}
