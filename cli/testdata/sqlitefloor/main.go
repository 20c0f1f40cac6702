// Command sqlitefloor is the smallest Go program that does what
// `kmsconsole kms GetSecretValue` must do with the store driver the project is
// bound to (modernc.org/sqlite): start, open the store, run the one query that
// finds the current ciphertext, print it. BenchmarkProcessSQLiteDriverFloor
// times it beside kmsconsole and the sqlite3 CLI, so the part of the
// whole-process time that no code of ours can remove is measured, not guessed.
// It lives under testdata so that ./... neither builds nor vets it as part of
// the product.
package main

import (
	"database/sql"
	"fmt"
	"os"

	_ "modernc.org/sqlite"
)

func main() {
	db, err := sql.Open("sqlite", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var hexCiphertext string
	err = db.QueryRow(os.Args[2]).Scan(&hexCiphertext)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(hexCiphertext)
}
