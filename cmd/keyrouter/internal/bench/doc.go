// Package bench holds keyrouter's benchmark scenarios, each a whole
// keyrouter (an app.App on an embedded NATS server and the in-process
// paper venue) driven from outside as strategies would drive it:
//
//   - hops: latency (one intent in flight) and throughput (many) of the
//     intent → accepted path, beside raw JetStream doing the same three
//     hops in the same run (the baseline), and their ratios;
//   - saturate: N keys under twice their budget: utilization, the venue's
//     429s, expired intents;
//   - isolation: a strategy's latency, and whether its orders ever wait
//     for budget, while another strategy surges on other keys;
//   - keys: N keys started (in this process or over executor processes)
//     and traded through: start-up time, resident memory, idle CPU.
//
// [Run] runs one and returns a [Result] whose JSON field names are part of
// the command line's contract (DESIGN.md: `keyrouter bench --json`);
// [Print] writes it for people. Run honours its context: cancelling it
// (Ctrl-C in `keyrouter bench`) stops the scenario and its keyrouter and
// returns the context's error. Progress goes to Options.Progress, if set.
// One Run at a time per process is what the figures assume; nothing in
// the package is shared between runs.
package bench
