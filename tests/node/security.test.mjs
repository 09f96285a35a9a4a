// The permissions `keyrouter deploy nats-config` generates, seen from a
// Node.js client holding strategy alpha's nkey, over TLS.
//
// Starts a real nats-server (NATS_SERVER_BIN, built by run.sh from the
// version in go.mod) with the generated config and TLS from
// deploy/tls/make-test-ca.sh, then keyrouter's router and one executor per
// key as separate processes, each with its own identity. Checks that alpha
// may trade as itself (its intents become fills) and is refused beta's
// subjects, keyrouter's internal subjects and the control service, while
// the operator identity is answered.
//
// Env: KEYROUTER_BIN, NATS_SERVER_BIN (run.sh sets both),
//      KEYROUTER_TEST_TIMEOUT_MS=per-wait timeout (default 10000).

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { connect, nkeyAuthenticator, PermissionViolationError } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "..", "..");
const WAIT_MS = Number(process.env.KEYROUTER_TEST_TIMEOUT_MS || 10_000);
const RUN = randomBytes(4).toString("hex");
const sh = promisify(execFile);

const hasOpenSSL = (() => {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

const CONFIG = `
venues: {paper: {kind: paper, seed: 1}}
keys:
  alpha-1: {venue: paper}
  beta-1: {venue: paper}
strategies:
  alpha: {keys: [alpha-1]}
  beta: {keys: [beta-1]}
`;

async function keyrouterBinary(tmp) {
  if (process.env.KEYROUTER_BIN) return path.resolve(process.env.KEYROUTER_BIN);
  const out = path.join(tmp, "keyrouter");
  await sh("go", ["build", "-o", out, "./cmd/keyrouter"], { cwd: repoRoot, maxBuffer: 64 << 20, timeout: 15 * 60_000 });
  return out;
}

async function natsServerBinary() {
  if (process.env.NATS_SERVER_BIN) return path.resolve(process.env.NATS_SERVER_BIN);
  // The version keyrouter is built against, into the repository's ignored cache.
  const { stdout } = await sh("go", ["list", "-m", "-f", "{{.Version}}", "github.com/nats-io/nats-server/v2"], { cwd: repoRoot });
  const bin = path.join(repoRoot, ".cache", "bin");
  await sh("go", ["install", `github.com/nats-io/nats-server/v2@${stdout.trim()}`], {
    cwd: repoRoot,
    env: { ...process.env, GOBIN: bin },
    timeout: 15 * 60_000,
  });
  return path.join(bin, "nats-server");
}

// sleep resolves to value after ms without keeping the process alive.
const sleep = (ms, value) => new Promise((r) => setTimeout(r, ms, value).unref());

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

// A child process whose output lines are kept, with a wait for a line.
function start(name, bin, args, log) {
  const child = spawn(bin, args, { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
  const lines = [];
  const waiters = new Set();
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  let buf = "";
  const onData = (b) => {
    buf += b;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      lines.push(line);
      log.push(`${name}: ${line}`);
      for (const w of [...waiters]) w();
    }
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const waitLine = (re, ms = 60_000) =>
    new Promise((resolve, reject) => {
      const check = () => {
        if (lines.some((l) => re.test(l))) {
          done();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${name}: no line matching ${re} within ${ms} ms\n${log.slice(-30).join("\n")}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      exited.then(({ code, signal }) => {
        done();
        reject(new Error(`${name} exited (code ${code}, signal ${signal})\n${log.slice(-30).join("\n")}`));
      });
      waiters.add(check);
      check();
    });
  return { name, child, exited, waitLine };
}

// Collects a connection's async errors: a refused publish or subscription
// surfaces only there.
function watchErrors(nc) {
  const errs = [];
  const waiters = new Set();
  (async () => {
    for await (const s of nc.status()) {
      if (s.type === "error") {
        errs.push(s.error);
        for (const w of [...waiters]) w();
      }
    }
  })();
  return {
    errs,
    expect(operation, subject) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const e = errs.find((e) => e instanceof PermissionViolationError && e.operation === operation && e.subject === subject);
          if (e) {
            done();
            resolve(e);
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no permissions violation for ${operation} ${subject}; errors: ${errs.map(String).join("; ")}`));
        }, WAIT_MS);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

describe("generated NATS permissions (Node.js client, TLS)", { skip: !hasOpenSSL && "openssl not found: it makes the test CA" }, () => {
  const log = [];
  const procs = [];
  let tmp, dir, tls, port, alpha, alphaErrs;

  const seed = (id) => fs.readFileSync(path.join(dir, "nkeys", `${id}.nk`));
  const connectAs = (id) =>
    connect({
      servers: `tls://127.0.0.1:${port}`,
      name: `node-${id}`,
      authenticator: nkeyAuthenticator(new TextEncoder().encode(seed(id).toString().trim())),
      tls: { caFile: tls.ca, certFile: tls.cert, keyFile: tls.key },
      // An identity may subscribe only to its own inbox.
      inboxPrefix: `_INBOX_${id}`,
    });

  before(
    async () => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), "keyrouter-node-sec-"));
      const [bin, natsBin] = await Promise.all([keyrouterBinary(tmp), natsServerBinary()]);
      const tlsDir = path.join(tmp, "tls");
      await sh("bash", [path.join(repoRoot, "deploy", "tls", "make-test-ca.sh"), tlsDir]);
      tls = { ca: path.join(tlsDir, "ca.pem"), cert: path.join(tlsDir, "client.pem"), key: path.join(tlsDir, "client-key.pem") };
      const cfg = path.join(tmp, "keyrouter.yaml");
      fs.writeFileSync(cfg, CONFIG);
      dir = path.join(tmp, "nats");
      port = await freePort();
      await sh(bin, [
        "deploy", "nats-config", "--config", cfg, "--out", dir, "--listen", `127.0.0.1:${port}`,
        "--store", path.join(tmp, "jetstream"),
        "--tls-ca", tls.ca, "--tls-cert", path.join(tlsDir, "server.pem"), "--tls-key", path.join(tlsDir, "server-key.pem"),
      ]);
      const nats = start("nats-server", natsBin, ["-c", path.join(dir, "nats-server.conf")], log);
      procs.push(nats);
      await nats.waitLine(/Server is ready/);
      const creds = (id) => [
        "--config", cfg, "--nats", `tls://127.0.0.1:${port}`, "--nkey", path.join(dir, "nkeys", `${id}.nk`),
        "--tls-ca", tls.ca, "--tls-cert", tls.cert, "--tls-key", tls.key,
      ];
      const roles = [
        start("router", bin, ["router", ...creds("router")], log),
        start("executor-alpha-1", bin, ["executor", "--key", "alpha-1", ...creds("executor-alpha-1")], log),
        start("executor-beta-1", bin, ["executor", "--key", "beta-1", ...creds("executor-beta-1")], log),
      ];
      procs.push(...roles);
      await Promise.all(roles.map((r) => r.waitLine(/keyrouter running/)));
      alpha = await connectAs("strategy-alpha");
      alphaErrs = watchErrors(alpha);
    },
    { timeout: 20 * 60_000 },
  );

  after(async () => {
    await alpha?.close();
    for (const p of [...procs].reverse()) {
      if (p.child.exitCode === null) p.child.kill("SIGTERM");
      await Promise.race([p.exited, sleep(30_000)]);
      if (p.child.exitCode === null) p.child.kill("SIGKILL");
    }
    // keyrouter's own roles were refused nothing.
    const refused = log.filter((l) => /^(router|executor-[^:]+): .*permissions violation/i.test(l));
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    assert.deepEqual(refused, [], "keyrouter's roles hit permissions violations");
  });

  it("alpha's intents become fills, by plain and by JetStream publish", async () => {
    const reports = [];
    const sub = alpha.subscribe("reports.alpha.>", { callback: (err, m) => !err && reports.push(m.json()) });
    await alpha.flush();
    const js = jetstream(alpha);
    const jsId = `ns${RUN}-js`;
    const ack = await js.publish(
      "orders.new.alpha",
      JSON.stringify({ client_order_id: jsId, symbol: "BTC-USDT", side: "buy", type: "market", quantity: "0.001" }),
      { timeout: WAIT_MS },
    );
    assert.equal(ack.stream, "ORDERS", `stored-ack on alpha's inbox: ${JSON.stringify(ack)}`);
    const plainId = `ns${RUN}-plain`;
    alpha.publish(
      "orders.new.alpha",
      JSON.stringify({ client_order_id: plainId, symbol: "BTC-USDT", side: "buy", type: "market", quantity: "0.001" }),
    );
    const deadline = Date.now() + 6 * WAIT_MS; // the router's first pull after a cold start
    for (const id of [jsId, plainId]) {
      while (!reports.some((r) => r.client_order_id === id && r.kind === "fill" && r.status === "filled")) {
        assert.ok(Date.now() < deadline, `no fill for ${id}; reports: ${JSON.stringify(reports)}\n${log.slice(-20).join("\n")}`);
        await sleep(20);
      }
    }
    sub.unsubscribe();
    assert.deepEqual(alphaErrs.errs, [], "alpha was refused nothing it may do");
  });

  it("alpha may not publish beta's or keyrouter's internal subjects", async () => {
    const subjects = [
      "orders.new.beta",
      "orders.cancel.beta",
      "exec.alpha-1.new",
      "exec.beta-1.cancel",
      "keys.alpha-1.status",
      "keys.beta-1.status",
      "orders.reroute.alpha",
      "orders.reroute.beta",
      "$KV.ORDERSTATE.alpha.x1",
      "$KV.CONTROL.all",
      "reports.beta.fill",
      "$JS.API.CONSUMER.CREATE.REPORTS.alpha.reports.beta.>",
      "$JS.API.CONSUMER.MSG.NEXT.REPORTS.beta",
    ];
    for (const s of subjects) alpha.publish(s, "{}");
    await alpha.flush();
    for (const s of subjects) await alphaErrs.expect("publish", s);
  });

  it("alpha may not subscribe to beta's reports or the key statuses", async () => {
    for (const s of ["reports.beta.>", "reports.>", "keys.*.status", "_INBOX_strategy-beta.>"]) {
      const sub = alpha.subscribe(s);
      const closed = await Promise.race([sub.closed, sleep(WAIT_MS, "still open")]);
      assert.ok(closed instanceof PermissionViolationError, `subscription to ${s} ended with ${closed}`);
      assert.equal(closed.subject, s);
      await alphaErrs.expect("subscription", s);
    }
  });

  it("the control service refuses alpha and answers the operator", async () => {
    await assert.rejects(
      alpha.request("keyrouter.halt", JSON.stringify({ strategy: "beta" }), { timeout: WAIT_MS }),
      (err) => err instanceof PermissionViolationError || /permission/i.test(String(err)),
    );
    await alphaErrs.expect("publish", "keyrouter.halt");
    const op = await connectAs("operator");
    try {
      for (const verb of ["halt", "resume"]) {
        const m = await op.request(`keyrouter.${verb}`, JSON.stringify({ strategy: "beta" }), { timeout: WAIT_MS });
        assert.equal(m.headers?.get("Nats-Service-Error-Code") ?? "", "", `${verb} refused: ${m.string()}`);
        assert.equal(m.json().ok, true, m.string());
      }
    } finally {
      await op.close();
    }
  });
});
