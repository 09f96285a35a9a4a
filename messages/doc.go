// Package messages is keyrouter's vocabulary: the wire types of the public
// contract (OrderIntent, CancelIntent, ExecutionReport, KeyStatus), their
// strict decoding and validation, the reason codes and the subject names.
//
// It imports no NATS and no other package of this module, so any Go program
// can speak the contract with it alone. Everything here is safe to call
// concurrently; nothing holds state.
//
// # Decoding
//
// DecodeOrderIntent and DecodeCancelIntent are strict: an unknown field, a
// field of the wrong JSON type, trailing data or a broken rule returns a
// *ValidationError naming the field and the rule. Decimals are read from a
// JSON string or from a JSON number's literal text, never through float64,
// and are always written as JSON strings.
//
// # Subjects
//
// OrdersNewSubject, OrdersCancelSubject, ReportSubject and KeyStatusSubject
// build the public subjects; ExecNewSubject and ExecCancelSubject the
// internal router-to-executor ones (a subject per order, which makes the
// routed order its own dedupe claim: ExecClaimSubjects).
package messages
