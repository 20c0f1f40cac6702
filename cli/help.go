package cli

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

func jsonLine(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

const mainHelp = `kmsconsole — a Secrets Manager console for machines you run yourself.

Usage:
  kmsconsole [--db PATH] [--region ID]              open the console
  kmsconsole kms <Action> --Param value ...         KMS API (as 'aliyun kms')
  kmsconsole instance add|list|show|remove ...      managed ECS instances
  kmsconsole operator add|list|remove ...           operators for serve mode
  kmsconsole rotate [NAME ...] [--all] ...          rotate many ECS secrets at once
  kmsconsole audit [--limit N] [--filter TEXT]      recent audit events (JSON lines)
  kmsconsole serve [--listen ADDR]                  serve the console over SSH

Global flags (anywhere on the line):
  --db PATH      store file (env KMSCONSOLE_DB; default $XDG_DATA_HOME/kmsconsole/kms.db)
  --region ID    region (env KMSCONSOLE_REGION; default cn-hangzhou)
Environment:
  KMSCONSOLE_MASTER_KEY_FILE   master key (default: master.key beside the store)

Run 'kmsconsole <command> --help' for a command's flags.
`

func kmsHelp() string {
	var b strings.Builder
	b.WriteString("Usage: kmsconsole kms <Action> --Param value ...\n\n")
	b.WriteString("Parameters use the cloud KMS CLI's names; lists are JSON ('[\"MyPendingLabel\"]'),\n")
	b.WriteString("booleans true/false. --SecretData - reads the value from standard input\n")
	b.WriteString("(one trailing newline dropped), so it stays out of argv and shell history.\n")
	b.WriteString("Success: JSON on stdout, exit 0. Failure: JSON with\n")
	b.WriteString("Code, Message and HttpStatus on stderr, exit 1.\n\nActions:\n")
	for _, a := range actions {
		fmt.Fprintf(&b, "  %-27s %s\n", a.name, a.summary)
	}
	b.WriteString("\nRun 'kmsconsole kms <Action> --help' for an action's parameters.\n")
	return b.String()
}

func actionHelp(a *action) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: kmsconsole kms %s [--Param value ...]\n\n%s\n\nParameters:\n", a.name, a.summary)
	t := reflect.TypeOf(a.request).Elem()
	for _, n := range paramNames(t) {
		fmt.Fprintf(&b, "  --%s\n", n)
	}
	return b.String()
}

const instanceHelp = `Usage:
  kmsconsole instance add --InstanceId ID --RegionId REGION --Host HOST [--Port 22]
        [--InstanceName NAME] [--AdminUser root] --AdminKeyFile PATH
        (--HostKey '<type> <base64>' | --AcceptHostKey SHA256:...)
      Register a managed host. Without --HostKey the host key is fetched and its
      fingerprint printed; repeat with --AcceptHostKey set to that fingerprint
      (checked out of band) to pin it. The admin key is stored encrypted.
  kmsconsole instance list                      instances of the region
  kmsconsole instance show ID | --InstanceId ID
  kmsconsole instance remove ID | --InstanceId ID   (refused while secrets manage it)
`

const operatorHelp = `Usage:
  kmsconsole operator add --name NAME --key FILE_OR_LINE [--role admin|readonly]
  kmsconsole operator list
  kmsconsole operator set-role --name NAME --role admin|readonly
  kmsconsole operator remove --name NAME
Operators log in to 'kmsconsole serve' with their SSH key. readonly operators can
list and describe but never reveal a value or change anything. A removed
operator, or one whose role changed, loses the consoles already open within
seconds. A key line may carry from="PATTERNS" (addresses, CIDR, * ? wildcards,
! negation, as in authorized_keys): serve then admits the key only from there.
Any other option (command=, no-pty, restrict, …) is refused, since serve would
not enforce it.
`

const auditHelp = `Usage: kmsconsole audit [--limit 50] [--filter TEXT]
Prints the latest audit events, oldest first, one JSON object per line: time,
operator, action, target, result and error. Values are never recorded.
`

const rotateHelp = `Usage: kmsconsole rotate [NAME ...] [--all] [--instance ID]... [--filter TEXT]
                         [--dry-run] [--parallel 16] [--per-host 4] [--json]
Rotates managed ECS secrets of the region now, many at once: each one goes
through create, set, test, finish as RotateSecret does (a rotation a crash left
half-way is settled first). Values are never printed.

Selection (names, or the other three; --instance and --filter narrow --all):
  NAME ...           these secrets (managed ECS secrets only)
  --all              every managed ECS secret of the region
  --instance ID      those on instance ID (repeatable)
  --filter TEXT      those whose name contains TEXT
Options:
  --dry-run          list what would rotate (name, instance, subtype); change nothing
  --parallel N       rotations at once, 1-256 (default 16)
  --per-host M       rotations at once on one instance, 1-256 (default 4)
  --json             one JSON line per secret as it finishes (SecretName,
                     InstanceId, VersionId, Result, FailedStep, Code, Reason, Ms,
                     RemovedKeyLines for key pairs), then a Summary line
Flags take '--flag value' or '--flag=value'.

On a terminal a live view shows progress, the ok / failed / running counts and an
ETA, then a table of results; otherwise one line per secret as it finishes, then
a summary line. Exit status 0 when every selected secret rotated (and for a dry
run), 1 otherwise. Result is Success, Failure or NotStarted.

Ctrl+C, SIGINT or SIGTERM: no new rotation starts, the running ones finish (a
rotation is never cut short; further signals only say what is awaited), then the
results are printed and the status is 1 if any secret did not rotate. Over serve
('ssh -p 2222 HOST rotate --all') closing the session does the same; the
operator needs the admin role.
`

const serveHelp = `Usage: kmsconsole serve [--listen 127.0.0.1:2222] [--on-rotation-failure CMD]
                        [--host-key PATH]
Serves the console over SSH to registered operators and runs the scheduler.

  --listen ADDR               address to listen on (default 127.0.0.1:2222; use
                              0.0.0.0:2222 to accept other machines)
  --on-rotation-failure CMD   run CMD with /bin/sh after each failed rotation,
                              the event as JSON on stdin (never a value)
  --host-key PATH             the server's ed25519 host key (default
                              serve_host_ed25519 beside the store; created 0600)

Only public keys of registered operators log in ('kmsconsole operator add'); the
registry is read on every login, so changes need no restart. Each operator acts
with their own role, and the audit log names them.
  ssh -p 2222 HOST                       the console (needs a terminal)
  ssh -p 2222 HOST kms ListSecrets       one 'kms ...', 'rotate ...' or 'audit'
                                         command: its answer, exit status 0 or 1

At start, rotations a crash interrupted are settled. On SIGINT/SIGTERM serve
stops accepting connections, lets running rotations finish (up to 2 minutes;
new ones are refused), ends the sessions and exits 0; a second signal stops at
once. Logs go to stderr (logins, refused key fingerprints, scheduler work),
never a value.
`
