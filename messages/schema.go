package messages

import "embed"

// Schemas holds the JSON Schemas (draft 2020-12) of the public messages, as
// schema/order_intent.json, schema/cancel_intent.json,
// schema/execution_report.json and schema/key_status.json, so a tool can
// serve or ship them. Each one's $id ends in its file name.
//
//go:embed schema/*.json
var Schemas embed.FS
