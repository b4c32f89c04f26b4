package sqldir

import "casella/internal/migrate"

// An alias may also send mail on to addresses outside our domains; those
// targets have no account to reference, so they live in a table of their
// own, with its own schema version table like the Sieve scripts. An alias
// is the union of its rows here and in aliases.
var aliasForwardSteps = []string{
	`CREATE TABLE alias_forwards (
		address TEXT NOT NULL,
		domain TEXT NOT NULL,
		target_address TEXT NOT NULL,
		PRIMARY KEY (address, target_address)
	);
	CREATE INDEX alias_forwards_domain ON alias_forwards (domain);`,
}

func aliasForwardSchema(dl Dialect) migrate.Schema {
	return migrate.Schema{Name: "alias forwards", Steps: aliasForwardSteps, Lock: dl.Schema.Lock, Table: "alias_forward_schema_version"}
}
