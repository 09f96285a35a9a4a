// Package natsconf secures keyrouter's NATS bus: it turns a keyrouter
// config into a NATS server config whose accounts give every identity
// (strategy-<s>, router, executor-<k>, operator, monitor) exactly the
// subjects its role needs, and it builds the connection options every
// keyrouter process and client command connects with.
//
// # The permission table
//
// roles.go holds every role's subjects in one table, one commented line per
// subject, marked for the bus layout it serves. Change access there, never
// in a generated file.
//
// # Generating
//
// Render is pure (config and public keys in, config text out); Generate
// adds the files: nats-server.conf, accounts.conf (included by it) and one
// nkey seed per identity under nkeys/ (mode 600, with a .pub beside it).
// Running Generate again keeps every existing seed, so adding a strategy or
// a key and reloading the server changes nobody else's credentials.
//
// # Identities on the wire
//
// Everything runs in account KEYROUTER except the operator, in account
// OPERATOR: its requests to the control service cross a service import
// with share, so the server stamps them with a Nats-Request-Info header
// naming the caller's account and nkey, which a client cannot forge (the
// server overwrites it). No KEYROUTER identity may publish on keyrouter.>,
// so every request the router sees came through that import.
//
// Each identity may subscribe only to its own inbox, _INBOX_<identity>:
// its clients must set that prefix (nats.CustomInboxPrefix; Credentials
// does it from the seed file's name).
//
// Nothing here starts goroutines; everything is safe for concurrent use.
package natsconf
