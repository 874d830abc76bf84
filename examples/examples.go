// Package examples holds the example configs. They are checked by the
// CLI's tests; Shop is embedded for `abuseguard demo`.
package examples

import _ "embed"

// Shop is shop.yaml: the guard in front of the sample shop API.
//
//go:embed shop.yaml
var Shop []byte

// Market is market.yaml: the guard in front of the sample marketplace,
// configured only from what README.md and docs/ tell a user.
//
//go:embed market.yaml
var Market []byte

// Tickets is tickets.yaml: the guard in front of the held-out ticketing
// API, configured only from what README.md and docs/ tell a user.
//
//go:embed tickets.yaml
var Tickets []byte

// Desk is desk.yaml: the guard in front of the held-out help-desk API,
// configured only from what README.md and docs/ tell a user.
//
//go:embed desk.yaml
var Desk []byte

// Bank is bank.yaml: the guard in front of the held-out mobile banking
// API, configured only from what README.md and docs/ tell a user.
//
//go:embed bank.yaml
var Bank []byte
