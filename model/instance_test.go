package model

import (
	"strings"
	"testing"
)

func TestValidateInstanceId(t *testing.T) {
	tests := []struct {
		in, code string
	}{
		{"i-web1", ok},
		{"i-bp1abcdefghijklmn", ok},
		{"web_1.prod", ok},
		{"1", ok},
		{strings.Repeat("i", 64), ok},
		{strings.Repeat("i", 65), invalid},
		{"", missing},
		{"-i", invalid},
		{".i", invalid},
		{"_i", invalid},
		{"i web", invalid},
		{"i/web", invalid},
		{"i-wéb", invalid},
		{"i-web1\n", invalid},
	}
	for _, tc := range tests {
		t.Run(trunc(tc.in), func(t *testing.T) {
			check(t, ValidateInstanceId(tc.in), tc.code, "InstanceId")
		})
	}
}

func TestValidateRole(t *testing.T) {
	tests := []struct {
		in, code string
	}{
		{"admin", ok},
		{"readonly", ok},
		{"Admin", invalid},
		{"ADMIN", invalid},
		{"read-only", invalid},
		{"root", invalid},
		{"", invalid},
		{"admin ", invalid},
	}
	for _, tc := range tests {
		check(t, ValidateRole(tc.in), tc.code, "Role")
	}
}

func TestValidateOperatorName(t *testing.T) {
	tests := []struct {
		in, code string
	}{
		{"alice", ok},
		{"alice@example.com", ok},
		{"ops_1.oncall-a", ok},
		{"A", ok},
		{"7", ok},
		{strings.Repeat("o", 64), ok},
		{strings.Repeat("o", 65), invalid},
		{"", invalid},
		{"-alice", invalid},
		{"@alice", invalid},
		{"al ice", invalid},
		{"al/ice", invalid},
		{"al:ice", invalid},
		{"alice\n", invalid},
		{"élise", invalid},
	}
	for _, tc := range tests {
		t.Run(trunc(tc.in), func(t *testing.T) {
			check(t, ValidateOperatorName(tc.in), tc.code, "Name")
		})
	}
}
