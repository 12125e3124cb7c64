// Command ledgerdesk runs the ledgerdesk service desk: `ledgerdesk run` starts the whole
// system on embedded JetStream.
package main

import (
	"os"

	"github.com/ledgerdesk/ledgerdesk/services/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stderr))
}
