package natsconf

// This file is the one place that says what each keyrouter identity may do
// on the bus. The generator turns it into the accounts of the NATS server
// config, each line commented with its Why. Allow-lists only: a subject not
// listed here is refused.
//
// Placeholders: {s} a strategy (the strategy itself for strategy-<s>; each
// strategy whose pool holds the key for executor-<k>, one line per
// strategy), {k} the executor's key, {inbox} the identity's own inbox prefix
// (_INBOX_<identity>; clients must set it: nats.CustomInboxPrefix).
//
// JetStream API subjects, as nats.go (jetstream and the legacy push
// subscriptions under KV watches) and nats-server 2.15 spell them:
// consumer create $JS.API.CONSUMER.CREATE.<stream>.<name>[.<filter>] (the
// server checks that a filter in the subject equals the config's),
// $JS.API.CONSUMER.MSG.NEXT.<stream>.<name> (pull), $JS.ACK.<stream>.<name>.>
// (acks, v1 reply format), $JS.FC.<stream>.> (flow control replies of push
// consumers: KV watches and KV key listings), $JS.API.DIRECT.GET.<stream>.<subject>
// (KV Get), $KV.<bucket>.<key> (KV writes are publishes).

// rules are every identity's permissions. Keep one subject per line.
var rules = []Rule{
	// ---- strategy-<s>: a trading strategy, in any language ----
	{Strategy, Pub, "orders.new.{s}", "its order intents (plain publish, or JetStream publish answered on its inbox)"},
	{Strategy, Pub, "orders.cancel.{s}", "its cancels"},
	{Strategy, Sub, "reports.{s}.>", "its execution reports, live"},
	{Strategy, Sub, "{inbox}.>", "replies to it: stored-acks, JetStream API answers, pulled reports"},
	{Strategy, Pub, "$JS.API.CONSUMER.CREATE.REPORTS.{s}.reports.{s}.>", "its durable consumer on REPORTS: named after itself and filtered to its own reports"},
	{Strategy, Pub, "$JS.API.CONSUMER.INFO.REPORTS.{s}", "look its durable up (Go js.Consumer, Node consumers.get)"},
	{Strategy, Pub, "$JS.API.CONSUMER.MSG.NEXT.REPORTS.{s}", "pull from its durable"},
	{Strategy, Pub, "$JS.API.CONSUMER.DELETE.REPORTS.{s}", "remove its durable"},
	{Strategy, Pub, "$JS.ACK.REPORTS.{s}.>", "ack what it pulled"},

	// ---- router: intake, dedupe, checks, key choice; serves the control service ----
	{Router, Sub, "{inbox}.>", "replies: stored-acks of its async publishes, JetStream API answers, pulled messages, KV watch deliveries"},
	{Router, Pub, "$JS.API.INFO", "account info: creating a KV bucket asks for it"},
	{Router, Pub, "$JS.API.STREAM.CREATE.ORDERS", "provisions ORDERS (create only: an existing stream is never changed)"},
	{Router, Pub, "$JS.API.STREAM.CREATE.EXEC", "provisions EXEC"},
	{Router, Pub, "$JS.API.STREAM.CREATE.REPORTS", "provisions REPORTS"},
	{Router, Pub, "$JS.API.STREAM.CREATE.KV_ORDERSTATE", "provisions the ORDERSTATE bucket"},
	{Router, Pub, "$JS.API.STREAM.CREATE.KV_CONTROL", "provisions the CONTROL bucket"},
	{Router, Pub, "$JS.API.STREAM.CREATE.KV_BUDGETS", "provisions the BUDGETS bucket"},
	{Router, Pub, "$JS.API.STREAM.INFO.ORDERS", "checks ORDERS"},
	{Router, Pub, "$JS.API.STREAM.INFO.EXEC", "checks EXEC"},
	{Router, Pub, "$JS.API.STREAM.INFO.REPORTS", "checks REPORTS"},
	{Router, Pub, "$JS.API.STREAM.INFO.KV_ORDERSTATE", "binds the ORDERSTATE bucket"},
	{Router, Pub, "$JS.API.STREAM.INFO.KV_CONTROL", "binds the CONTROL bucket"},
	{Router, Pub, "$JS.API.STREAM.INFO.KV_BUDGETS", "binds the BUDGETS bucket"},
	{Router, Pub, "$JS.API.CONSUMER.CREATE.ORDERS.>", "its durable consumers on ORDERS: router-new-<s>, router-cancel-<s>, router-reroute, router-stray"},
	{Router, Pub, "$JS.API.STREAM.MSG.GET.ORDERS", "a cancel with no claim yet finds the first intent its strategy has not finished (from the stream leader)"},
	{Router, Pub, "$JS.API.CONSUMER.INFO.ORDERS.*", "looks its consumers up"},
	{Router, Pub, "$JS.API.CONSUMER.MSG.NEXT.ORDERS.*", "pulls intents, cancels and hand-backs"},
	{Router, Pub, "$JS.API.CONSUMER.UNPIN.ORDERS.*", "hands the pinned group `active` to a standby"},
	{Router, Pub, "$JS.ACK.ORDERS.>", "acks what it handled"},
	{Router, Pub, "exec.>", "claims (routed orders exec.<k>.new.<s>.<id>, refused intents exec.~.new.<s>.<id>) and cancels exec.<k>.cancel.<s>.<id>"},
	{Router, Pub, "$JS.API.STREAM.MSG.GET.EXEC", "reads claims: which key holds an order (from the stream leader: a follower may not have the latest)"},
	{Router, Pub, "reports.>", "first reports of any strategy, an unknown one too (reports.nosuch.rejected)"},
	{Router, Pub, "$JS.API.CONSUMER.CREATE.REPORTS.>", "ordered consumer following reports for max_open_notional (generated names)"},
	{Router, Pub, "$JS.API.CONSUMER.MSG.NEXT.REPORTS.*", "pulls that ordered consumer"},
	{Router, Pub, "$JS.API.CONSUMER.DELETE.REPORTS.*", "drops it when it resets"},
	{Router, Sub, "keys.*.status", "key health for the choice of key"},
	{Router, Pub, "$JS.API.CONSUMER.CREATE.KV_ORDERSTATE.>", "reads the executors' records of open orders (ordered consumer): the book at a takeover, cancel-open"},
	{Router, Pub, "$JS.API.CONSUMER.MSG.NEXT.KV_ORDERSTATE.*", "pulls that ordered consumer"},
	{Router, Pub, "$JS.API.CONSUMER.DELETE.KV_ORDERSTATE.*", "drops that listing consumer"},
	{Router, Pub, "$JS.FC.KV_ORDERSTATE.>", "flow control of that listing"},
	{Router, Pub, "$KV.CONTROL.>", "halts and resumes, reload requests, its lease lease.router, its heartbeat proc.<instance>"},
	{Router, Pub, "$JS.API.DIRECT.GET.KV_CONTROL.>", "reads the router lease"},
	{Router, Pub, "$JS.API.CONSUMER.CREATE.KV_CONTROL.>", "watches halts, reload requests, heartbeats and the router lease (ordered push consumers)"},
	{Router, Pub, "$JS.API.CONSUMER.DELETE.KV_CONTROL.*", "drops that watch"},
	{Router, Pub, "$JS.FC.KV_CONTROL.>", "flow control of that watch"},
	{Router, Sub, "keyrouter.>", "the control service's endpoints (halt, resume, reload); requests come from OPERATOR through an import"},
	{Router, Sub, "$SRV.>", "micro discovery and stats of the control service (answers go back as responses)"},

	// ---- executor-<k>: one key's worker (several processes, one active) ----
	{Executor, Sub, "{inbox}.>", "replies: stored-acks, JetStream API answers, pulled orders, KV watch deliveries"},
	{Executor, Pub, "$JS.API.INFO", "account info (KV bucket binding asks for it)"},
	{Executor, Pub, "$JS.API.STREAM.CREATE.ORDERS", "every role provisions the streams at start (app.App.Start); create never changes an existing stream"},
	{Executor, Pub, "$JS.API.STREAM.CREATE.EXEC", "as above"},
	{Executor, Pub, "$JS.API.STREAM.CREATE.REPORTS", "as above"},
	{Executor, Pub, "$JS.API.STREAM.CREATE.KV_ORDERSTATE", "as above"},
	{Executor, Pub, "$JS.API.STREAM.CREATE.KV_CONTROL", "as above"},
	{Executor, Pub, "$JS.API.STREAM.INFO.ORDERS", "checks the streams it uses"},
	{Executor, Pub, "$JS.API.STREAM.INFO.EXEC", "as above"},
	{Executor, Pub, "$JS.API.STREAM.INFO.REPORTS", "as above"},
	{Executor, Pub, "$JS.API.STREAM.INFO.KV_ORDERSTATE", "binds the ORDERSTATE bucket"},
	{Executor, Pub, "$JS.API.STREAM.INFO.KV_CONTROL", "binds the CONTROL bucket"},
	{Executor, Pub, "$JS.API.STREAM.INFO.KV_BUDGETS", "binds the BUDGETS bucket"},
	{Executor, Pub, "$JS.API.STREAM.CREATE.KV_BUDGETS", "provisions the BUDGETS bucket (as every role does at start)"},
	{Executor, Pub, "$JS.API.CONSUMER.CREATE.EXEC.exec-{k}.exec.{k}.>", "its one consumer exec-<k> on its own partition exec.<k>.>"},
	{Executor, Pub, "$JS.API.STREAM.MSG.GET.EXEC", "reads claims (is a redelivered order still this key's? where did a handed-back order go?) and, at a takeover, the messages its predecessor held; the subject is in the request's body, so this cannot be narrowed to its own claims"},
	{Executor, Pub, "$JS.API.CONSUMER.INFO.EXEC.exec-{k}", "looks it up"},
	{Executor, Pub, "$JS.API.CONSUMER.MSG.NEXT.EXEC.exec-{k}", "pulls in the pinned group `active`"},
	{Executor, Pub, "$JS.API.CONSUMER.UNPIN.EXEC.exec-{k}", "takes the pin from a predecessor at a takeover (no wait for PinnedTTL)"},
	{Executor, Pub, "$JS.ACK.EXEC.exec-{k}.>", "acks"},
	{Executor, Pub, "keys.{k}.status", "its key's status, and no other key's"},
	{Executor, Pub, "reports.{s}.>", "reports of the orders it holds: only strategies whose pool holds its key"},
	{Executor, Pub, "orders.reroute.{s}", "hands unsent orders back to the router: only strategies whose pool holds its key"},
	{Executor, Pub, "exec.*.cancel.>", "forwards a cancel to the key an order moved to"},
	{Executor, Pub, "$KV.ORDERSTATE.{k}.>", "its orders' records, its lease <k>.=lease (fencing) and its rate counters <k>.=budget"},
	{Executor, Pub, "$JS.API.DIRECT.GET.KV_ORDERSTATE.$KV.ORDERSTATE.{k}.>", "reads its own records and lease"},
	{Executor, Pub, "$JS.API.CONSUMER.CREATE.KV_ORDERSTATE.*.$KV.ORDERSTATE.{k}.*.*", "reads its own records from the stream leader (ordered consumers: at a takeover, and one record on a redelivery)"},
	{Executor, Pub, "$JS.API.CONSUMER.CREATE.KV_ORDERSTATE.*.$KV.ORDERSTATE.{k}.>", "reads one of its records"},
	{Executor, Pub, "$JS.API.CONSUMER.CREATE.KV_ORDERSTATE.*.$KV.ORDERSTATE.*.=lease", "watches the key leases (holders only; one watch serves every key of the process)"},
	{Executor, Pub, "$JS.API.CONSUMER.MSG.NEXT.KV_ORDERSTATE.*", "pulls its ordered consumers"},
	{Executor, Pub, "$KV.CONTROL.proc.>", "its process heartbeat proc.<instance> (standbys take its key when it stops)"},
	{Executor, Pub, "$JS.API.DIRECT.GET.KV_CONTROL.>", "reads heartbeats"},
	{Executor, Pub, "$JS.API.CONSUMER.DELETE.KV_ORDERSTATE.*", "drops its listing consumer"},
	{Executor, Pub, "$JS.FC.KV_ORDERSTATE.>", "flow control of that listing"},
	{Executor, Pub, "$JS.API.CONSUMER.CREATE.KV_CONTROL.>", "watches the halts of all and of its key (two filters: no filter in the subject) and the heartbeats"},
	{Executor, Pub, "$JS.API.CONSUMER.DELETE.KV_CONTROL.*", "drops that watch"},
	{Executor, Pub, "$JS.FC.KV_CONTROL.>", "flow control of that watch"},
	{Executor, Pub, "$KV.BUDGETS.>", "grants of shared rate limits (account and IP scopes span keys and processes), by compare-and-set"},
	{Executor, Pub, "$JS.API.DIRECT.GET.KV_BUDGETS.>", "reads a shared limit's counter before a grant (a stale read only makes the compare-and-set fail)"},

	// ---- operator (account OPERATOR): halt, resume, reload, keys, tail ----
	{Operator, Pub, "keyrouter.>", "the control service, imported with share: the router reads the caller from Nats-Request-Info"},
	{Operator, Pub, "$SRV.>", "micro discovery and stats (imported)"},
	{Operator, Sub, "keys.*.status", "`keyrouter keys` (imported stream)"},
	{Operator, Sub, "{inbox}.>", "replies: control answers, JetStream API answers, tailed reports"},
	{Operator, Pub, "$JS.API.INFO", "answered by the server itself (no JetStream in this account): how `keyrouter tail` knows to use the prefix below"},
	{Operator, Pub, OperatorJSAPIPrefix + ".CONSUMER.CREATE.REPORTS.>", "`keyrouter tail`: ordered consumers on REPORTS through KEYROUTER's JetStream API, imported under this prefix"},
	{Operator, Pub, OperatorJSAPIPrefix + ".CONSUMER.MSG.NEXT.REPORTS.*", "pulls them"},
	{Operator, Pub, OperatorJSAPIPrefix + ".CONSUMER.INFO.REPORTS.*", "looks them up"},
	{Operator, Pub, OperatorJSAPIPrefix + ".CONSUMER.DELETE.REPORTS.*", "drops them when they reset"},

	// ---- monitor: read-only, core NATS only (it cannot touch a stream or consumer) ----
	{Monitor, Sub, "keys.*.status", "every key's status (`keyrouter keys`)"},
	{Monitor, Sub, "reports.>", "every report, live"},
	{Monitor, Sub, "{inbox}.>", "replies to its discovery requests"},
	{Monitor, Pub, "$SRV.>", "micro discovery and stats of the control service (read-only endpoints)"},
}

// exports are what account KEYROUTER exports to account OPERATOR, and
// OPERATOR imports (under To if set).
var exports = []Export{
	{Service, "keyrouter.>", "", true, false, "the control service; share puts the caller's identity in Nats-Request-Info"},
	{Service, "$SRV.>", "", false, true, "micro discovery (several services may answer one request)"},
	{Stream, "keys.*.status", "", false, false, "key statuses for `keyrouter keys`"},
	{Service, "$JS.API.CONSUMER.CREATE.REPORTS.>", OperatorJSAPIPrefix + ".CONSUMER.CREATE.REPORTS.>", false, false, "`keyrouter tail` creates ordered consumers on REPORTS"},
	{Service, "$JS.API.CONSUMER.MSG.NEXT.REPORTS.*", OperatorJSAPIPrefix + ".CONSUMER.MSG.NEXT.REPORTS.*", false, true, "and pulls them (a pull is answered by many messages)"},
	{Service, "$JS.API.CONSUMER.INFO.REPORTS.*", OperatorJSAPIPrefix + ".CONSUMER.INFO.REPORTS.*", false, false, "and looks them up"},
	{Service, "$JS.API.CONSUMER.DELETE.REPORTS.*", OperatorJSAPIPrefix + ".CONSUMER.DELETE.REPORTS.*", false, false, "and drops them"},
}

// allowResponses lists the roles that answer requests from identities
// whose inbox they may not otherwise publish to.
var allowResponses = map[Role]string{
	Router: "answers control and discovery requests (one reply each, to the requester's inbox)",
}
