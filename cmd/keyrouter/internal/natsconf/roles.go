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
// Layout marks what serves which bus: Both, Today (only today's code on
// this branch: EXEC a work queue on exec.<k>.new / exec.<k>.cancel with
// consumers exec-<k>-new / exec-<k>-cancel, ORDERSTATE keyed
// <strategy>.<client_order_id>, every role provisioning the streams) or Plan
// (only the layout being built, /work/notes/PLAN.md: exec.<k>.new|cancel.<s>.<id>
// with one consumer exec-<k>, ORDERSTATE keyed <k>.<s>.<id>, BUDGETS).
// Delete the Today lines once the new layout is merged.
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
	{Strategy, Pub, "orders.new.{s}", Both, "its order intents (plain publish, or JetStream publish answered on its inbox)"},
	{Strategy, Pub, "orders.cancel.{s}", Both, "its cancels"},
	{Strategy, Sub, "reports.{s}.>", Both, "its execution reports, live"},
	{Strategy, Sub, "{inbox}.>", Both, "replies to it: stored-acks, JetStream API answers, pulled reports"},
	{Strategy, Pub, "$JS.API.CONSUMER.CREATE.REPORTS.{s}.reports.{s}.>", Both, "its durable consumer on REPORTS: named after itself and filtered to its own reports"},
	{Strategy, Pub, "$JS.API.CONSUMER.INFO.REPORTS.{s}", Both, "look its durable up (Go js.Consumer, Node consumers.get)"},
	{Strategy, Pub, "$JS.API.CONSUMER.MSG.NEXT.REPORTS.{s}", Both, "pull from its durable"},
	{Strategy, Pub, "$JS.API.CONSUMER.DELETE.REPORTS.{s}", Both, "remove its durable"},
	{Strategy, Pub, "$JS.ACK.REPORTS.{s}.>", Both, "ack what it pulled"},

	// ---- router: intake, dedupe, checks, key choice; serves the control service ----
	{Router, Sub, "{inbox}.>", Both, "replies: stored-acks of its async publishes, JetStream API answers, pulled messages, KV watch deliveries"},
	{Router, Pub, "$JS.API.INFO", Both, "account info: creating a KV bucket asks for it"},
	{Router, Pub, "$JS.API.STREAM.CREATE.ORDERS", Both, "provisions ORDERS (create only: an existing stream is never changed)"},
	{Router, Pub, "$JS.API.STREAM.CREATE.EXEC", Both, "provisions EXEC"},
	{Router, Pub, "$JS.API.STREAM.CREATE.REPORTS", Both, "provisions REPORTS"},
	{Router, Pub, "$JS.API.STREAM.CREATE.KV_ORDERSTATE", Both, "provisions the ORDERSTATE bucket"},
	{Router, Pub, "$JS.API.STREAM.CREATE.KV_CONTROL", Both, "provisions the CONTROL bucket"},
	{Router, Pub, "$JS.API.STREAM.CREATE.KV_BUDGETS", Plan, "provisions the BUDGETS bucket"},
	{Router, Pub, "$JS.API.STREAM.INFO.ORDERS", Both, "checks ORDERS"},
	{Router, Pub, "$JS.API.STREAM.INFO.EXEC", Both, "checks EXEC"},
	{Router, Pub, "$JS.API.STREAM.INFO.REPORTS", Both, "checks REPORTS"},
	{Router, Pub, "$JS.API.STREAM.INFO.KV_ORDERSTATE", Both, "binds the ORDERSTATE bucket"},
	{Router, Pub, "$JS.API.STREAM.INFO.KV_CONTROL", Both, "binds the CONTROL bucket"},
	{Router, Pub, "$JS.API.STREAM.INFO.KV_BUDGETS", Plan, "binds the BUDGETS bucket"},
	{Router, Pub, "$JS.API.CONSUMER.CREATE.ORDERS.>", Both, "its durable consumers on ORDERS (today router-new/-cancel/-reroute; plan router-new-<s>, router-cancel-<s>, router-reroute, router-stray)"},
	{Router, Pub, "$JS.API.CONSUMER.INFO.ORDERS.*", Both, "looks its consumers up"},
	{Router, Pub, "$JS.API.CONSUMER.MSG.NEXT.ORDERS.*", Both, "pulls intents, cancels and hand-backs"},
	{Router, Pub, "$JS.API.CONSUMER.UNPIN.ORDERS.*", Plan, "hands the pinned group `active` to a standby"},
	{Router, Pub, "$JS.ACK.ORDERS.>", Both, "acks what it handled"},
	{Router, Pub, "exec.>", Both, "routed orders and cancels to every key (today exec.<k>.new|cancel; plan exec.<k>.new|cancel.<s>.<id> and the refused claims exec.~.new.<s>.<id>)"},
	{Router, Pub, "$JS.API.DIRECT.GET.EXEC.>", Plan, "reads dedupe claims exec.*.new.<s>.<id> (which key holds an order)"},
	{Router, Pub, "reports.>", Both, "first reports of any strategy, an unknown one too (reports.nosuch.rejected)"},
	{Router, Pub, "$JS.API.CONSUMER.CREATE.REPORTS.>", Both, "ordered consumer following reports for max_open_notional (generated names)"},
	{Router, Pub, "$JS.API.CONSUMER.MSG.NEXT.REPORTS.*", Both, "pulls that ordered consumer"},
	{Router, Pub, "$JS.API.CONSUMER.DELETE.REPORTS.*", Both, "drops it when it resets"},
	{Router, Sub, "keys.*.status", Both, "key health for the choice of key"},
	{Router, Pub, "$KV.ORDERSTATE.>", Today, "writes the dedupe record of each intent and moves it on a hand-back (plan: executors write order state)"},
	{Router, Pub, "$JS.API.DIRECT.GET.KV_ORDERSTATE.>", Both, "reads order records: dedupe, cancel routing, open orders"},
	{Router, Pub, "$JS.API.CONSUMER.CREATE.KV_ORDERSTATE.>", Both, "lists the bucket's keys (ordered push consumer)"},
	{Router, Pub, "$JS.API.CONSUMER.DELETE.KV_ORDERSTATE.*", Both, "drops that listing consumer"},
	{Router, Pub, "$JS.FC.KV_ORDERSTATE.>", Both, "flow control of that listing"},
	{Router, Pub, "$KV.CONTROL.>", Both, "halts and resumes (plan: also its lease lease.router)"},
	{Router, Pub, "$JS.API.DIRECT.GET.KV_CONTROL.>", Both, "reads halts and the router lease"},
	{Router, Pub, "$JS.API.CONSUMER.CREATE.KV_CONTROL.>", Both, "watches halts (ordered push consumer)"},
	{Router, Pub, "$JS.API.CONSUMER.DELETE.KV_CONTROL.*", Both, "drops that watch"},
	{Router, Pub, "$JS.FC.KV_CONTROL.>", Both, "flow control of that watch"},
	{Router, Sub, "keyrouter.>", Both, "the control service's endpoints (halt, resume, reload); requests come from OPERATOR through an import"},
	{Router, Sub, "$SRV.>", Both, "micro discovery and stats of the control service (answers go back as responses)"},

	// ---- executor-<k>: one key's worker (several processes, one active) ----
	{Executor, Sub, "{inbox}.>", Both, "replies: stored-acks, JetStream API answers, pulled orders, KV watch deliveries"},
	{Executor, Pub, "$JS.API.INFO", Both, "account info (KV bucket binding asks for it)"},
	{Executor, Pub, "$JS.API.STREAM.CREATE.ORDERS", Today, "every role provisions the streams at start (app.App.Start); create never changes an existing stream"},
	{Executor, Pub, "$JS.API.STREAM.CREATE.EXEC", Today, "as above"},
	{Executor, Pub, "$JS.API.STREAM.CREATE.REPORTS", Today, "as above"},
	{Executor, Pub, "$JS.API.STREAM.CREATE.KV_ORDERSTATE", Today, "as above"},
	{Executor, Pub, "$JS.API.STREAM.CREATE.KV_CONTROL", Today, "as above"},
	{Executor, Pub, "$JS.API.STREAM.INFO.ORDERS", Both, "checks the streams it uses"},
	{Executor, Pub, "$JS.API.STREAM.INFO.EXEC", Both, "as above"},
	{Executor, Pub, "$JS.API.STREAM.INFO.REPORTS", Both, "as above"},
	{Executor, Pub, "$JS.API.STREAM.INFO.KV_ORDERSTATE", Both, "binds the ORDERSTATE bucket"},
	{Executor, Pub, "$JS.API.STREAM.INFO.KV_CONTROL", Both, "binds the CONTROL bucket"},
	{Executor, Pub, "$JS.API.STREAM.INFO.KV_BUDGETS", Plan, "binds the BUDGETS bucket"},
	{Executor, Pub, "$JS.API.CONSUMER.CREATE.EXEC.exec-{k}-new.exec.{k}.new", Today, "its consumer of new orders: its own name, its own partition"},
	{Executor, Pub, "$JS.API.CONSUMER.CREATE.EXEC.exec-{k}-cancel.exec.{k}.cancel", Today, "its consumer of cancels"},
	{Executor, Pub, "$JS.API.CONSUMER.MSG.NEXT.EXEC.exec-{k}-new", Today, "pulls new orders"},
	{Executor, Pub, "$JS.API.CONSUMER.MSG.NEXT.EXEC.exec-{k}-cancel", Today, "pulls cancels"},
	{Executor, Pub, "$JS.ACK.EXEC.exec-{k}-new.>", Today, "acks new orders"},
	{Executor, Pub, "$JS.ACK.EXEC.exec-{k}-cancel.>", Today, "acks cancels"},
	{Executor, Pub, "$JS.API.CONSUMER.CREATE.EXEC.exec-{k}.exec.{k}.>", Plan, "its one consumer exec-<k> on its own partition exec.<k>.>"},
	{Executor, Pub, "$JS.API.CONSUMER.INFO.EXEC.exec-{k}", Plan, "looks it up"},
	{Executor, Pub, "$JS.API.CONSUMER.MSG.NEXT.EXEC.exec-{k}", Plan, "pulls in the pinned group `active`"},
	{Executor, Pub, "$JS.API.CONSUMER.UNPIN.EXEC.exec-{k}", Plan, "gives the pin up on a clean stop (takeover without waiting for PinnedTTL)"},
	{Executor, Pub, "$JS.ACK.EXEC.exec-{k}.>", Plan, "acks"},
	{Executor, Pub, "keys.{k}.status", Both, "its key's status, and no other key's"},
	{Executor, Pub, "reports.{s}.>", Both, "reports of the orders it holds: only strategies whose pool holds its key"},
	{Executor, Pub, "orders.reroute.{s}", Both, "hands unsent orders back to the router: only strategies whose pool holds its key"},
	{Executor, Pub, "exec.*.cancel", Today, "forwards a cancel to the key an order moved to"},
	{Executor, Pub, "exec.*.cancel.>", Plan, "forwards a cancel to the key an order moved to"},
	{Executor, Pub, "$KV.ORDERSTATE.{s}.>", Today, "writes the records of the orders it holds (keyed <s>.<id>: only strategies whose pool holds its key)"},
	{Executor, Pub, "$JS.API.DIRECT.GET.KV_ORDERSTATE.>", Today, "reads records; on start it reads every record to find its own (they are not keyed by key)"},
	{Executor, Pub, "$JS.API.CONSUMER.CREATE.KV_ORDERSTATE.*.$KV.ORDERSTATE.>", Today, "lists the whole bucket's keys on start"},
	{Executor, Pub, "$KV.ORDERSTATE.{k}.>", Plan, "its orders' records and its lease <k>.=lease (fencing)"},
	{Executor, Pub, "$JS.API.DIRECT.GET.KV_ORDERSTATE.$KV.ORDERSTATE.{k}.>", Plan, "reads its own records and lease"},
	{Executor, Pub, "$JS.API.CONSUMER.CREATE.KV_ORDERSTATE.*.$KV.ORDERSTATE.{k}.>", Plan, "lists or watches its own records"},
	{Executor, Pub, "$JS.API.CONSUMER.DELETE.KV_ORDERSTATE.*", Both, "drops its listing consumer"},
	{Executor, Pub, "$JS.FC.KV_ORDERSTATE.>", Both, "flow control of that listing"},
	{Executor, Pub, "$JS.API.CONSUMER.CREATE.KV_CONTROL.>", Both, "watches the halts of all and of its key (two filters: no filter in the subject)"},
	{Executor, Pub, "$JS.API.CONSUMER.DELETE.KV_CONTROL.*", Both, "drops that watch"},
	{Executor, Pub, "$JS.FC.KV_CONTROL.>", Both, "flow control of that watch"},
	{Executor, Pub, "$KV.BUDGETS.>", Plan, "shared rate budgets (account and IP scopes span keys)"},
	{Executor, Pub, "$JS.API.DIRECT.GET.KV_BUDGETS.>", Plan, "reads shared budgets"},
	{Executor, Pub, "$JS.API.CONSUMER.CREATE.KV_BUDGETS.>", Plan, "watches shared budgets"},
	{Executor, Pub, "$JS.API.CONSUMER.DELETE.KV_BUDGETS.*", Plan, "drops that watch"},
	{Executor, Pub, "$JS.FC.KV_BUDGETS.>", Plan, "flow control of that watch"},

	// ---- operator (account OPERATOR): halt, resume, reload, keys, tail ----
	{Operator, Pub, "keyrouter.>", Both, "the control service, imported with share: the router reads the caller from Nats-Request-Info"},
	{Operator, Pub, "$SRV.>", Both, "micro discovery and stats (imported)"},
	{Operator, Sub, "keys.*.status", Both, "`keyrouter keys` (imported stream)"},
	{Operator, Sub, "{inbox}.>", Both, "replies: control answers, JetStream API answers, tailed reports"},
	{Operator, Pub, "$JS.API.INFO", Both, "answered by the server itself (no JetStream in this account): how `keyrouter tail` knows to use the prefix below"},
	{Operator, Pub, OperatorJSAPIPrefix + ".CONSUMER.CREATE.REPORTS.>", Both, "`keyrouter tail`: ordered consumers on REPORTS through KEYROUTER's JetStream API, imported under this prefix"},
	{Operator, Pub, OperatorJSAPIPrefix + ".CONSUMER.MSG.NEXT.REPORTS.*", Both, "pulls them"},
	{Operator, Pub, OperatorJSAPIPrefix + ".CONSUMER.INFO.REPORTS.*", Both, "looks them up"},
	{Operator, Pub, OperatorJSAPIPrefix + ".CONSUMER.DELETE.REPORTS.*", Both, "drops them when they reset"},

	// ---- monitor: read-only, core NATS only (it cannot touch a stream or consumer) ----
	{Monitor, Sub, "keys.*.status", Both, "every key's status (`keyrouter keys`)"},
	{Monitor, Sub, "reports.>", Both, "every report, live"},
	{Monitor, Sub, "{inbox}.>", Both, "replies to its discovery requests"},
	{Monitor, Pub, "$SRV.>", Both, "micro discovery and stats of the control service (read-only endpoints)"},
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
