// Black-box tests of keyrouter's public wire contract (DESIGN.md "The public
// contract", messages/README.md) from a Node.js NATS client: the way a
// strategy written in another language sees keyrouter.
//
// Starts `keyrouter run` on a free port with a temporary data dir, talks to
// it with @nats-io/transport-node and @nats-io/jetstream, and stops it with
// SIGTERM at the end (it must exit 0).
//
// Env: KEYROUTER_BIN=path to a built keyrouter (otherwise `go build` here).
//      KEYROUTER_TEST_TIMEOUT_MS=per-wait timeout (default 10000).
//      KEYROUTER_TEST_DUMP=1 prints every report received (and keyrouter's
//      log on failure is always in the assertion messages).

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { promisify } from "node:util";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { connect, headers } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "..", "..");
const WAIT_MS = Number(process.env.KEYROUTER_TEST_TIMEOUT_MS || 10_000);
const RUN = randomBytes(4).toString("hex"); // keeps client_order_ids unique per run

// --- contract shapes ---------------------------------------------------------

const KINDS = ["accepted", "rejected", "fill", "canceled", "expired", "cancel_rejected"];
const STATUSES = ["new", "partially_filled", "filled", "canceled", "rejected", "expired"];
const KIND_STATUS = {
  accepted: ["new"],
  rejected: ["rejected"],
  fill: ["partially_filled", "filled"],
  canceled: ["canceled"],
  expired: ["expired"],
  cancel_rejected: STATUSES,
};
const FIRST_KINDS = ["accepted", "rejected", "expired"];
// RFC 3339 as keyrouter writes it: upper-case T and Z, optional fraction.
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
// keyrouter writes decimals as strings in plain notation without trailing
// fraction zeros.
const PLAIN_DECIMAL = /^-?\d+(\.\d*[1-9])?$/;

let seqNo = 0;
const newId = (label) => `n${RUN}-${label}-${++seqNo}`.slice(0, 36);

// --- the keyrouter child process ----------------------------------------------

const sh = promisify(execFile);

async function keyrouterBinary(tmp) {
  if (process.env.KEYROUTER_BIN) return path.resolve(process.env.KEYROUTER_BIN);
  const out = path.join(tmp, "keyrouter");
  await sh("go", ["build", "-o", out, "./cmd/keyrouter"], {
    cwd: repoRoot,
    maxBuffer: 64 << 20,
    timeout: 15 * 60_000,
  });
  return out;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Starts keyrouter and resolves once it logs "keyrouter running"; rejects if
// it exits first or is not ready in time.
function startKeyrouter(bin, port, dataDir, log) {
  const child = spawn(bin, ["run", "--nats-listen", `127.0.0.1:${port}`, "--http-listen", "127.0.0.1:0", "--data", dataDir], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  child.stdout.on("data", (b) => log.push(...String(b).split("\n").filter(Boolean)));
  const ready = new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`keyrouter not ready within 60s\n${tail(log)}`)), 60_000);
    child.stderr.on("data", (b) => {
      buf += b;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        log.push(line);
        if (isRunningLine(line)) {
          clearTimeout(timer);
          resolve();
        }
      }
    });
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`keyrouter exited before it was ready (code ${code}, signal ${signal})\n${tail(log)}`));
    });
  });
  return { child, exited, ready };
}

function isRunningLine(line) {
  try {
    const o = JSON.parse(line);
    return o.msg === "keyrouter running" || o.message === "keyrouter running";
  } catch {
    return line.includes("keyrouter running");
  }
}

const tail = (log, n = 40) => log.slice(-n).join("\n");

// --- reports ------------------------------------------------------------------

// Collects every report received, in arrival order, and lets a test wait for
// the first one (from a given index on) that matches a predicate.
class Reports {
  constructor() {
    this.all = []; // {subject, raw, r, parseError}
    this.waiters = new Set();
  }

  add(subject, raw) {
    const e = { subject, raw };
    try {
      e.r = JSON.parse(raw);
    } catch (err) {
      e.parseError = err;
    }
    this.all.push(e);
    for (const w of [...this.waiters]) w();
  }

  mark() {
    return this.all.length;
  }

  of(id) {
    return this.all.filter((e) => e.r && e.r.client_order_id === id).map((e) => e.r);
  }

  // Resolves to the first report at index >= from for which pred(r, entry)
  // holds; rejects after ms with the reports seen so far.
  waitFor(pred, what, { from = 0, ms = WAIT_MS } = {}) {
    return new Promise((resolve, reject) => {
      let i = from;
      const check = () => {
        for (; i < this.all.length; i++) {
          const e = this.all[i];
          if (e.r && pred(e.r, e)) {
            done();
            resolve(e.r);
            return;
          }
        }
      };
      const timer = setTimeout(() => {
        done();
        const seen = this.all.slice(from).map((e) => `  ${e.subject} ${e.raw}`).join("\n");
        reject(new Error(`no report ${what} within ${ms} ms; reports since the wait began:\n${seen || "  (none)"}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  first(id, opts) {
    return this.waitFor((r) => r.client_order_id === id && r.seq !== 0, `for ${id}`, opts);
  }

  kind(id, kind, opts) {
    return this.waitFor((r) => r.client_order_id === id && r.kind === kind, `of kind ${kind} for ${id}`, opts);
  }

  terminal(id, opts) {
    const end = ["filled", "canceled", "rejected", "expired"];
    return this.waitFor(
      (r) => r.client_order_id === id && r.seq !== 0 && end.includes(r.status),
      `with a terminal status for ${id}`,
      opts,
    );
  }
}

const bySeq = (rs) => [...rs].sort((a, b) => a.seq - b.seq);

// Checks the shape every report must have (DESIGN.md/README ExecutionReport).
function checkReportShape(e) {
  const where = `${e.subject} ${e.raw}`;
  assert.ok(!e.parseError, `report is not JSON: ${where}`);
  const r = e.r;
  const [, strategy, kind] = e.subject.split(".");
  assert.equal(r.kind, kind, `kind is the subject's last token: ${where}`);
  assert.equal(r.strategy, strategy, `strategy is the subject's strategy: ${where}`);
  assert.ok(KINDS.includes(r.kind), `known kind: ${where}`);
  assert.ok(KIND_STATUS[r.kind].includes(r.status), `status ${r.status} goes with kind ${r.kind}: ${where}`);
  assert.equal(typeof r.client_order_id, "string", `client_order_id string: ${where}`);
  assert.ok(Number.isInteger(r.seq) && r.seq >= 0, `seq is an integer: ${where}`);
  assert.equal(typeof r.ts, "string", `ts string: ${where}`);
  assert.match(r.ts, RFC3339, `ts is RFC 3339: ${where}`);
  assert.ok(!Number.isNaN(Date.parse(r.ts)), `ts parses: ${where}`);
  for (const f of ["quantity", "price", "cum_quantity", "leaves_quantity", "avg_price"]) {
    if (r[f] !== undefined) {
      assert.equal(typeof r[f], "string", `${f} is a JSON string: ${where}`);
      assert.match(r[f], PLAIN_DECIMAL, `${f} is a plain decimal: ${where}`);
    }
  }
  if (r.kind === "fill") {
    assert.equal(typeof r.fill, "object", `fill report has fill: ${where}`);
    for (const f of ["quantity", "price", "fee"]) {
      assert.equal(typeof r.fill[f], "string", `fill.${f} is a JSON string: ${where}`);
      assert.match(r.fill[f], PLAIN_DECIMAL, `fill.${f} is a plain decimal: ${where}`);
    }
    assert.equal(typeof r.fill.trade_id, "string", `fill.trade_id: ${where}`);
  } else {
    assert.equal(r.fill, undefined, `only fill reports carry fill: ${where}`);
  }
  if (["rejected", "expired", "cancel_rejected"].includes(r.kind)) {
    assert.equal(typeof r.reason, "string", `reason: ${where}`);
    assert.equal(typeof r.message, "string", `message: ${where}`);
  } else {
    assert.equal(r.reason, undefined, `no reason on ${r.kind}: ${where}`);
  }
}

// --- the suite ------------------------------------------------------------------

describe("keyrouter public contract (Node.js client)", () => {
  const log = [];
  const reports = new Reports();
  // What the tests published on orders.new.*: id -> number of messages; ""
  // for messages without a valid client_order_id.
  const published = new Map();
  let tmp, proc, nc, js;

  const note = (strategy, id) => {
    const k = `${strategy}/${id}`;
    published.set(k, (published.get(k) || 0) + 1);
  };
  const publish = async (strategy, intent, id) => {
    const data = typeof intent === "string" ? intent : JSON.stringify(intent);
    note(strategy, id ?? intent.client_order_id ?? "");
    nc.publish(`orders.new.${strategy}`, data);
    await nc.flush();
  };
  const marketBuy = (id, extra = {}) => ({
    client_order_id: id,
    symbol: "BTC-USDT",
    side: "buy",
    type: "market",
    quantity: "0.001",
    ...extra,
  });

  before(
    async () => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), "keyrouter-node-"));
      const bin = await keyrouterBinary(tmp);
      // The port is free when chosen; retry in the unlikely case it was
      // taken before keyrouter bound it.
      for (let attempt = 1; ; attempt++) {
        const port = await freePort();
        const dataDir = fs.mkdtempSync(path.join(tmp, "data-"));
        proc = startKeyrouter(bin, port, dataDir, log);
        try {
          await proc.ready;
          proc.port = port;
          break;
        } catch (err) {
          if (proc.child.exitCode === null) proc.child.kill("SIGKILL");
          if (attempt >= 3 || !/port in use|address already in use/i.test(tail(log))) throw err;
        }
      }
      process.once("exit", () => {
        if (proc?.child.exitCode === null) proc.child.kill("SIGKILL");
      });
      nc = await connect({ servers: `127.0.0.1:${proc.port}`, name: "keyrouter-node-contract" });
      js = jetstream(nc);
      // Subscribe before anything is published.
      for (const s of ["alpha", "beta", "nosuch"]) {
        nc.subscribe(`reports.${s}.>`, {
          callback: (err, m) => {
            if (!err) reports.add(m.subject, m.string());
          },
        });
      }
      await nc.flush();
    },
    { timeout: 20 * 60_000 },
  );

  after(
    async () => {
      if (process.env.KEYROUTER_TEST_DUMP) {
        for (const e of reports.all) process.stderr.write(`${e.subject} ${e.raw}\n`);
      }
      try {
        if (nc) await nc.close();
      } finally {
        if (proc && proc.child.exitCode === null && proc.child.signalCode === null) {
          proc.child.kill("SIGTERM");
          let timer;
          const timeout = new Promise((resolve) => {
            timer = setTimeout(() => resolve(null), 30_000);
          });
          const res = await Promise.race([proc.exited, timeout]);
          clearTimeout(timer);
          if (res === null) proc.child.kill("SIGKILL");
          if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
          assert.ok(res !== null, `keyrouter did not exit within 30s of SIGTERM\n${tail(log)}`);
          assert.deepEqual(res, { code: 0, signal: null }, `keyrouter's exit on SIGTERM\n${tail(log)}`);
        } else if (tmp) {
          fs.rmSync(tmp, { recursive: true, force: true });
        }
      }
    },
    { timeout: 60_000 },
  );

  it("1. market buy by plain publish: accepted, then fills up to filled", async () => {
    const id = newId("mkt");
    const tags = { desk: "node", run: RUN };
    await publish("alpha", marketBuy(id, { tags }));
    await reports.terminal(id);
    const rs = bySeq(reports.of(id));

    const acc = rs[0];
    assert.equal(acc.kind, "accepted", JSON.stringify(acc));
    assert.equal(acc.seq, 1);
    assert.equal(acc.status, "new");
    assert.equal(acc.venue, "binance");
    assert.ok(["alpha-1", "alpha-2"].includes(acc.key), `key ${acc.key}`);

    rs.forEach((r, i) => {
      const s = JSON.stringify(r);
      assert.equal(r.seq, i + 1, `seq strictly increasing by 1: ${s}`);
      assert.deepEqual(r.tags, tags, `tags echoed: ${s}`);
      assert.equal(r.client_order_id, id);
      assert.equal(r.strategy, "alpha");
      assert.equal(r.symbol, "BTC-USDT");
      assert.equal(r.side, "buy");
      assert.equal(r.type, "market");
      assert.equal(r.quantity, "0.001");
      assert.equal(r.key, acc.key, `one key for the order: ${s}`);
      assert.equal(r.venue, "binance");
      assert.match(r.ts, RFC3339);
      if (i > 0) assert.equal(r.kind, "fill", `after accepted only fills: ${s}`);
    });
    assert.ok(rs.length >= 2, "at least one fill");
    const last = rs.at(-1);
    assert.equal(last.kind, "fill");
    assert.equal(last.status, "filled");
    assert.equal(last.cum_quantity, "0.001");
    assert.equal(last.leaves_quantity, "0");
    assert.equal(typeof last.avg_price, "string");
    const sum = rs.slice(1).reduce((a, r) => a + Number(r.fill.quantity), 0);
    assert.ok(Math.abs(sum - 0.001) < 1e-12, `fill quantities add up to 0.001, got ${sum}`);
  });

  it("2. market buy by JetStream publish with Nats-Msg-Id: stored ack, accepted, filled", async () => {
    const id = newId("js");
    const h = headers();
    h.set("Nats-Msg-Id", id);
    const body = JSON.stringify(marketBuy(id, { tags: { via: "jetstream" } }));
    note("alpha", id);
    const ack = await js.publish("orders.new.alpha", body, { headers: h, timeout: WAIT_MS });
    assert.ok(ack.stream, `stored ack names a stream: ${JSON.stringify(ack)}`);
    assert.ok(ack.seq > 0, `stored ack has a sequence: ${JSON.stringify(ack)}`);
    assert.equal(ack.duplicate, false);

    const acc = await reports.first(id);
    assert.equal(acc.kind, "accepted", JSON.stringify(acc));
    assert.equal(acc.status, "new");
    assert.equal(acc.seq, 1);
    assert.equal(acc.venue, "binance");
    assert.ok(["alpha-1", "alpha-2"].includes(acc.key));
    const last = await reports.terminal(id);
    assert.equal(last.status, "filled", JSON.stringify(last));
    assert.equal(last.cum_quantity, "0.001");
    assert.equal(last.leaves_quantity, "0");
    bySeq(reports.of(id)).forEach((r, i) => {
      assert.equal(r.seq, i + 1, JSON.stringify(r));
      assert.deepEqual(r.tags, { via: "jetstream" });
    });

    // The same Nats-Msg-Id again is dropped by the stream (honoured header).
    const again = await js.publish("orders.new.alpha", body, { headers: h, timeout: WAIT_MS });
    assert.equal(again.duplicate, true, `re-publish with the same Nats-Msg-Id: ${JSON.stringify(again)}`);
    assert.equal(again.seq, ack.seq);
  });

  it("3. resting limit order, then cancel: accepted/new, canceled/canceled", async () => {
    const id = newId("lmt");
    await publish("alpha", {
      client_order_id: id,
      symbol: "BTC-USDT",
      side: "buy",
      type: "limit",
      quantity: "0.01", // 0.01 x 1000 = 10 USDT, above the venue's min notional of 5
      price: "1000",
      time_in_force: "gtc",
    });
    const acc = await reports.first(id);
    assert.equal(acc.kind, "accepted", JSON.stringify(acc));
    assert.equal(acc.status, "new");
    assert.equal(acc.price, "1000");
    assert.equal(acc.quantity, "0.01");
    assert.equal(acc.leaves_quantity, "0.01");
    assert.equal(acc.cum_quantity, "0");

    nc.publish("orders.cancel.alpha", JSON.stringify({ client_order_id: id }));
    await nc.flush();
    const c = await reports.waitFor(
      (r) => r.client_order_id === id && (r.kind === "canceled" || r.kind === "cancel_rejected"),
      `canceled for ${id}`,
    );
    assert.equal(c.kind, "canceled", JSON.stringify(c));
    assert.equal(c.status, "canceled");
    assert.equal(c.leaves_quantity, "0");
    assert.equal(c.key, acc.key);
    bySeq(reports.of(id)).forEach((r, i) => assert.equal(r.seq, i + 1, JSON.stringify(r)));
  });

  describe("4. invalid intents: one rejected report, reason invalid", () => {
    it("unparseable JSON", async () => {
      const from = reports.mark();
      await publish("alpha", "{not json", "");
      const r = await reports.waitFor(
        (r, e) => e.subject === "reports.alpha.rejected" && !r.client_order_id,
        "rejected without a client_order_id",
        { from },
      );
      assert.equal(r.kind, "rejected");
      assert.equal(r.status, "rejected");
      assert.equal(r.reason, "invalid", JSON.stringify(r));
      assert.ok(r.message.length > 0);
    });

    const cases = [
      {
        name: "unknown field quantiy",
        intent: (id) => ({ client_order_id: id, symbol: "BTC-USDT", side: "buy", type: "market", quantiy: "0.001" }),
        message: /quantiy/,
      },
      {
        name: "negative quantity",
        intent: (id) => marketBuy(id, { quantity: "-0.001" }),
        message: /quantity/,
      },
      {
        name: "limit without price",
        intent: (id) => ({ client_order_id: id, symbol: "BTC-USDT", side: "buy", type: "limit", quantity: "0.001" }),
        message: /price/,
      },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        const id = newId("inv");
        await publish("alpha", c.intent(id));
        const r = await reports.first(id);
        const s = JSON.stringify(r);
        assert.equal(r.kind, "rejected", s);
        assert.equal(r.status, "rejected", s);
        assert.equal(r.reason, "invalid", s);
        assert.match(r.message, c.message, s);
        assert.equal(r.seq, 1, s);
      });
    }
  });

  it("5. unknown strategy: rejected unknown_strategy on reports.nosuch.rejected", async () => {
    const id = newId("nosuch");
    await publish("nosuch", marketBuy(id));
    const r = await reports.waitFor(
      (r, e) => e.subject.startsWith("reports.nosuch.") && r.client_order_id === id,
      `on reports.nosuch.> for ${id}`,
    );
    assert.equal(r.kind, "rejected", JSON.stringify(r));
    assert.equal(r.reason, "unknown_strategy", JSON.stringify(r));
    assert.equal(r.strategy, "nosuch");
    assert.equal(r.status, "rejected");
  });

  it("6. a key the strategy may not use: rejected not_permitted", async () => {
    const id = newId("perm");
    await publish("alpha", marketBuy(id, { key: "beta-1" }));
    const r = await reports.first(id);
    assert.equal(r.kind, "rejected", JSON.stringify(r));
    assert.equal(r.reason, "not_permitted", JSON.stringify(r));
    assert.equal(r.status, "rejected");
  });

  it("7. the same client_order_id twice: one order, the second rejected duplicate", async () => {
    const id = newId("dup");
    await publish("alpha", marketBuy(id));
    await publish("alpha", marketBuy(id));
    const acc = await reports.kind(id, "accepted");
    assert.equal(acc.seq, 1);
    const dup = await reports.waitFor(
      (r) => r.client_order_id === id && r.kind === "rejected",
      `rejected duplicate for ${id}`,
    );
    assert.equal(dup.reason, "duplicate", JSON.stringify(dup));
    assert.equal(dup.status, "rejected");
    assert.equal(dup.seq, 0, `a duplicate rejection has seq 0 (README): ${JSON.stringify(dup)}`);
    await reports.terminal(id);
    const rs = reports.of(id);
    assert.equal(rs.filter((r) => r.kind === "accepted").length, 1, "accepted once");
    bySeq(rs.filter((r) => r.seq !== 0)).forEach((r, i) => assert.equal(r.seq, i + 1, JSON.stringify(r)));
  });

  it("8. expires_at in the past: expired, never accepted", async () => {
    const id = newId("exp");
    await publish("alpha", marketBuy(id, { expires_at: "2020-01-02T03:04:05Z" }));
    const r = await reports.first(id);
    assert.equal(r.kind, "expired", JSON.stringify(r));
    assert.equal(r.reason, "expired", JSON.stringify(r));
    assert.equal(r.status, "expired");
    assert.equal(r.seq, 1);
    assert.equal(reports.of(id).filter((x) => x.kind === "accepted").length, 0, "no accepted");
  });

  describe("9. quantity as a JSON number is read from its literal text", () => {
    it("many digits are echoed exactly", async () => {
      const id = newId("num");
      const lit = "0.00100000000000000002"; // as a float64 this is 0.001
      const body = `{"client_order_id":"${id}","symbol":"BTC-USDT","side":"buy","type":"market","quantity":${lit}}`;
      await publish("alpha", body, id);
      const r = await reports.first(id);
      assert.equal(r.quantity, lit, `quantity echoed exactly: ${JSON.stringify(r)}`);
      // Not a multiple of the venue's step (0.00001): a venue filter, so
      // invalid if refused before the venue, venue_rejected after it.
      if (r.kind === "rejected") assert.ok(["invalid", "venue_rejected"].includes(r.reason), JSON.stringify(r));
      await reports.terminal(id);
      for (const x of reports.of(id)) assert.equal(x.quantity, lit, JSON.stringify(x));
    });

    it("a valid number quantity is accepted and written as a string", async () => {
      const id = newId("num");
      const body = `{"client_order_id":"${id}","symbol":"BTC-USDT","side":"buy","type":"market","quantity":0.00123}`;
      await publish("alpha", body, id);
      const r = await reports.first(id);
      assert.equal(r.kind, "accepted", JSON.stringify(r));
      assert.equal(r.quantity, "0.00123");
      const last = await reports.terminal(id);
      assert.equal(last.status, "filled", JSON.stringify(last));
      assert.equal(last.cum_quantity, "0.00123");
    });
  });

  describe("10. a venue filter the intent cannot meet: rejected invalid (reason table)", () => {
    const cases = [
      { name: "quantity not a multiple of the step (0.00001)", intent: (id) => marketBuy(id, { quantity: "0.000015" }) },
      {
        name: "notional below the minimum (5 USDT)",
        intent: (id) => ({
          client_order_id: id,
          symbol: "BTC-USDT",
          side: "buy",
          type: "limit",
          quantity: "0.001",
          price: "1000",
        }),
      },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        const id = newId("filter");
        await publish("alpha", c.intent(id));
        const r = await reports.first(id);
        const s = JSON.stringify(r);
        assert.equal(r.kind, "rejected", s);
        assert.equal(r.status, "rejected", s);
        assert.equal(r.reason, "invalid", `DESIGN.md: invalid covers "a venue filter (tick/step/min notional) it cannot meet": ${s}`);
      });
    }
  });

  it("every report has the contract's shape, and every intent exactly one first report", async () => {
    // A barrier: once an order published now is filled, reports for the
    // intents published earlier have had their chance to arrive.
    const id = newId("barrier");
    await publish("alpha", marketBuy(id));
    await reports.terminal(id);

    for (const e of reports.all) checkReportShape(e);

    for (const [k, n] of published) {
      const [strategy, cid] = k.split("/");
      const rs = reports.all.filter(
        (e) => e.r && e.subject.startsWith(`reports.${strategy}.`) && (e.r.client_order_id || "") === cid,
      );
      const firsts = rs.filter((e) => FIRST_KINDS.includes(e.r.kind) && e.r.seq <= 1);
      const dump = rs.map((e) => `  ${e.subject} ${e.raw}`).join("\n");
      // Each message gets exactly one first report; a re-sent id gets its
      // one first report as a duplicate rejection.
      assert.equal(firsts.length, n, `${n} message(s) with id "${cid}" on orders.new.${strategy}:\n${dump}`);
      const real = rs.filter((e) => e.r.seq !== 0);
      assert.equal(
        real.filter((e) => e.r.seq === 1).length,
        cid === "" ? n : 1,
        `one seq-1 report per order:\n${dump}`,
      );
    }
  });
});
