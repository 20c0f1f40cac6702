// Package replicas holds no product code: its tests prove the distributed
// part of the PostgreSQL store (issue 13) with real processes. Several
// `kmsconsole serve` replicas, each with a data directory of its own, share
// one throwaway PostgreSQL cluster (scripts/pg-cluster) and one real
// OpenSSH sshd (package ecs/sshdtest): every due rotation happens exactly
// once, a replica killed with SIGKILL mid-rotation is settled by another
// once its lease expires, a PostgreSQL restart loses and doubles no write
// and leaves no rotation half-way, and the database password appears in no
// output.
//
// The tests need root (real Linux users, PostgreSQL run as the postgres
// user) with sshd and PostgreSQL installed; without them they skip, unless
// CI=true, where they fail. They start clusters of their own, never the
// one scripts/test-all shares with other packages, because they stop and
// restart PostgreSQL.
package replicas
