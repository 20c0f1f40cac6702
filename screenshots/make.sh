#!/usr/bin/env bash
# Screenshots of the console: builds kmsconsole, seeds a temporary store,
# drives the console in tmux at 120x36, captures each main screen with
# `tmux capture-pane -p -e` and renders it to screenshots/NAME.png with
# screenshots/render.
#
# The screens that need a managed instance (instances, Rotate Immediately,
# an ECS secret's details, a fleet rotation in progress) are taken by
# screenshots/capture (a Go test, for the sshd harness): as root with sshd
# installed it rotates real passwords on a throwaway sshd, otherwise the
# instance is a silent port and the rotations fail.
#
# Usage: screenshots/make.sh            (needs tmux and go)
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
out=$root/screenshots
work=$(mktemp -d)
sock=kmsshots-$$

cleanup() {
	tmux -L "$sock" kill-server 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

command -v tmux >/dev/null || { echo "make.sh: tmux is required" >&2; exit 1; }

bin=$work/kmsconsole
go build -o "$bin" .
go build -o "$work/render" ./screenshots/render

export KMSCONSOLE_DB=$work/kms.db
export KMSCONSOLE_REGION=cn-hangzhou

# ---- seed: generic secrets through the CLI ----
kms() { "$bin" kms "$@" >/dev/null; }
kms CreateSecret --SecretName db/prod/password --SecretData 'Pr0d-Passw0rd!' --VersionId v1 \
	--Description 'Production database password'
kms PutSecretValue --SecretName db/prod/password --SecretData 'Pr0d-Passw0rd-2!' --VersionId v2
kms CreateSecret --SecretName api/stripe/key --VersionId v1 --SecretData 'sk_live_51HxAbc' --Description 'Stripe live key'
kms CreateSecret --SecretName ci/github/deploy-token --VersionId v1 --SecretData 'ghp_0123456789abcdef'
kms CreateSecret --SecretName team/payments/webhook-secret --VersionId v1 --SecretData 'whsec_4f2a9c'
kms CreateSecret --SecretName app/staging/token --VersionId v1 --SecretData 'staging-token'
kms DeleteSecret --SecretName app/staging/token --RecoveryWindowInDays 7

# ---- the screens with a managed instance (and its ECS secrets) ----
SHOTS_DIR=$work SHOTS_DB=$KMSCONSOLE_DB SHOTS_BIN=$bin \
	go test ./screenshots/capture -run TestCapture -count=1 -v | grep -E '^(=== RUN|--- |\s+capture_test)' || true
for f in instances rotate-prompt rotate-result details-ecs fleet-progress; do
	[ -f "$work/$f.ansi" ] || { echo "make.sh: screenshots/capture did not capture $f" >&2; exit 1; }
done

# ---- the rest, driven from here ----
t() { tmux -L "$sock" "$@"; }
key() { for k in "$@"; do t send-keys -t 0 "$k"; sleep 0.12; done; }
typ() { t send-keys -t 0 -l "$1"; sleep 0.12; }
wait_for() {
	for _ in $(seq 1 400); do
		if t capture-pane -p -t 0 | grep -qF -- "$1"; then return 0; fi
		sleep 0.05
	done
	echo "make.sh: the screen never showed: $1" >&2
	t capture-pane -p -t 0 >&2
	exit 1
}
shot() { sleep 0.4; t capture-pane -p -e -t 0 >"$work/$1.ansi"; echo "captured $1"; }

t -f /dev/null new-session -d -x 120 -y 36 \
	"env TERM=xterm-256color COLORTERM=truecolor KMSCONSOLE_DB=$KMSCONSOLE_DB KMSCONSOLE_REGION=cn-hangzhou $bin"
wait_for "Secrets ["
wait_for "db/prod/password"
shot list

# Create Secret wizard, a Managed ECS secret: steps 1, 2, 3 (not created).
key c
wait_for "1 Basics"
key Right Tab
wait_for "acs/ecs/"
typ web1/nginx
key Tab Right Tab
typ nginx
key Tab Tab
typ 'Curr3nt-Passw0rd'
key Tab
typ 'nginx worker on web1'
shot wizard-1
key Enter
wait_for "2 Rotation"
key Right Right Tab
typ 'cron(0 2 ? * SUN *)'
key Tab
typ 3h
wait_for "next window"
shot wizard-2
key Enter
wait_for "3 Review"
shot wizard-3
key Escape Escape Escape
wait_for "Discard what you typed?"
key y
wait_for "Secrets ["

# Secret details of a generic secret with two versions, then Plan Deletion.
key /
typ prod/password
key Enter Enter
wait_for "Versions [2]"
shot details
key d
wait_for "Plan Deletion Secret"
shot plan-deletion
key Escape Escape
wait_for "Secrets ["

key a
wait_for "Audit ["
# The latest event is the fleet's held-up rotation failing; the one
# below it, a rotation that went through.
key Down
shot audit
key q

# ---- render ----
render() { "$work/render" -o "$out/$1.png" -title "$2" <"$work/$1.ansi"; echo "screenshots/$1.png"; }
render list "kmsconsole — Secrets"
render wizard-1 "kmsconsole — Create Secret: 1 Basics"
render wizard-2 "kmsconsole — Create Secret: 2 Rotation"
render wizard-3 "kmsconsole — Create Secret: 3 Review"
render details "kmsconsole — Secret details"
render rotate-prompt "kmsconsole — Rotate Immediately"
if [ -f "$work/rotate-progress.ansi" ]; then
	render rotate-progress "kmsconsole — Rotate Immediately: progress"
fi
render rotate-result "kmsconsole — Rotate Immediately: result"
render details-ecs "kmsconsole — Managed ECS secret details"
render fleet-progress "kmsconsole — Rotate Immediately: several secrets"
render plan-deletion "kmsconsole — Plan Deletion Secret"
render instances "kmsconsole — Instances"
render audit "kmsconsole — Audit"
