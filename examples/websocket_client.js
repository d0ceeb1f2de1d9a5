#!/usr/bin/env node
// SysMedic WebSocket client for Node.js: live metrics and alerts, and every request type.
//
//   node websocket_client.js "sysmedic://SECRET@HOST:8060/"
//   node websocket_client.js "sysmedics://SECRET@HOST:8060/" --cafile ca.pem   (TLS on: wss://)
//   node websocket_client.js "ws://HOST:8060/ws" --secret SECRET
//   node websocket_client.js URL --command ping --command info    (print replies, then exit)
//
// Interactive commands: info, alerts, users, config, ping, help, quit. Uses the `ws` package
// (npm install ws) or Node's built-in WebSocket (Node 22+). Reconnects with backoff; exits
// with status 3 and a clear message when the secret is wrong or was rotated, 4 when the
// server's TLS certificate is not trusted (--cafile with the ws package; NODE_EXTRA_CA_CERTS
// works for both).
'use strict';

const fs = require('fs');
const readline = require('readline');

const COMMANDS = { info: 'get_system_info', alerts: 'get_alerts', users: 'get_user_metrics', config: 'get_config', ping: 'ping' };
const SECRET_ROTATED = 4001;
// Node's codes for a certificate that does not verify (tls.TLSSocket authorizationError).
const CERT_ERRORS = /^(UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_|CERT_|ERR_TLS_CERT_ALTNAME_INVALID)/;

function fatal(text, code) {
  console.error(`websocket_client.js: ${text}`);
  process.exit(code);
}

function loadWebSocket() {
  try {
    return { kind: 'ws', WebSocket: require('ws') };
  } catch (err) {
    if (typeof globalThis.WebSocket === 'function') return { kind: 'builtin', WebSocket: globalThis.WebSocket };
    console.error('websocket_client.js needs the ws package (npm install ws) or Node 22+');
    process.exit(2);
  }
}

function endpoint(url, secret) {
  const m = /^sysmedic(s?):\/\/([^@/]+)@(\[[^\]]+\]|[^/:]+)(?::(\d+))?\/?$/.exec(url);
  if (m) return `ws${m[1]}://${m[3]}:${m[4] || 8060}/ws?secret=${encodeURIComponent(decodeURIComponent(m[2]))}`;
  if (/^wss?:\/\//.test(url)) {
    if (!secret) return url;
    const parsed = new URL(url);
    if (parsed.pathname === '/') parsed.pathname = '/ws';
    parsed.searchParams.set('secret', secret);
    return parsed.toString();
  }
  throw new Error(`unsupported URL ${JSON.stringify(url)}: use sysmedic[s]://SECRET@HOST:PORT/ or ws[s]://HOST:PORT/ws`);
}

function describe(message) {
  const d = message.data || {};
  const stamp = (message.timestamp || '').slice(11, 19);
  switch (message.type) {
    case 'welcome': return `${d.message} (version ${d.version}) on ${d.system} - status: ${d.status}`;
    case 'system_update':
      return `[${stamp}] CPU ${d.cpu_usage.toFixed(1)}% | MEM ${d.memory_usage.toFixed(1)}% | DISK ${d.disk_usage.toFixed(1)}% | up ${d.uptime} | ${d.status || ''}`;
    case 'alert':
      return [`[${stamp}] ALERT ${d.status}: ${d.message || d.primary_cause}`]
        .concat(d.primary_cause ? [`  primary cause: ${d.primary_cause}`] : [])
        .concat((d.recommendations || []).map((r) => `  - ${r}`)).join('\n');
    case 'error': return `error: ${d.error}`;
    default: return `${message.type}:\n${JSON.stringify(d, null, 2)}`;
  }
}

function parseArgs(argv) {
  const args = { url: null, secret: null, cafile: null, commands: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--secret') args.secret = argv[++i];
    else if (argv[i] === '--cafile') args.cafile = argv[++i];
    else if (argv[i] === '--command' || argv[i] === '-c') args.commands.push(argv[++i]);
    else if (!args.url) args.url = argv[i];
  }
  const unknown = args.commands.filter((c) => !COMMANDS[c]);
  if (!args.url || unknown.length) {
    console.error('usage: websocket_client.js URL [--secret S] [--cafile CA.pem] [--command info|alerts|users|config|ping ...]');
    process.exit(2);
  }
  return args;
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  let url;
  try { url = endpoint(args.url, args.secret); } catch (err) { console.error(`websocket_client.js: ${err.message}`); process.exit(2); }
  const { kind, WebSocket } = loadWebSocket();
  let options;
  if (args.cafile) {
    if (kind !== 'ws') fatal('--cafile needs the ws package; with Node\'s own WebSocket set NODE_EXTRA_CA_CERTS', 2);
    try { options = { ca: fs.readFileSync(args.cafile) }; } catch (err) { fatal(`--cafile: ${err.message}`, 2); }
  }
  const scripted = args.commands.length > 0;
  let ws = null;
  let counter = 0;
  let backoff = 1000;
  const pending = new Set();

  const send = (type) => {
    const request_id = `req_${++counter}_${Date.now()}`;
    ws.send(JSON.stringify({ type, request_id, data: null }));
    return request_id;
  };

  const connect = () => {
    ws = kind === 'ws' ? new WebSocket(url, options) : new WebSocket(url);
    let opened = false;
    const onMessage = (raw) => {
      const message = JSON.parse(typeof raw === 'string' ? raw : raw.toString());
      console.log(describe(message));
      if (message.type === 'welcome' && scripted) args.commands.forEach((c) => pending.add(send(COMMANDS[c])));
      if (message.request_id && pending.delete(message.request_id) && scripted && pending.size === 0) {
        ws.close(1000);
        process.exit(0);
      }
    };
    const onOpen = () => { opened = true; backoff = 1000; };
    const onClose = (code) => {
      if (code === SECRET_ROTATED) fatal("The secret was rotated: get the new URL with 'sysmedic websocket status'", 3);
      if (scripted) fatal(`connection ended before every reply arrived (${code})`, 1);
      console.error(`connection closed (${code || 'no code'}); reconnecting in ${backoff / 1000}s`);
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 30000);
    };
    if (kind === 'ws') {
      ws.on('open', onOpen);
      ws.on('message', onMessage);
      ws.on('unexpected-response', (req, res) => {
        if (res.statusCode === 401) fatal("Invalid secret: get the current URL with 'sysmedic websocket status'", 3);
        ws.emit('error', new Error(`HTTP ${res.statusCode}`));
      });
      ws.on('error', (err) => {
        if (!opened && CERT_ERRORS.test(err.code || '')) {
          fatal(`the server's certificate is not trusted (${err.message}): pass the CA that signed it with --cafile`, 4);
        }
        if (!opened) console.error(`connection failed: ${err.message}`);
      });
      ws.on('close', (code) => onClose(code));
    } else {
      ws.onopen = onOpen;
      ws.onmessage = (event) => onMessage(event.data);
      ws.onclose = (event) => onClose(event.code);
    }
  };

  if (!scripted) {
    const rl = readline.createInterface({ input: process.stdin });
    console.log(`Commands: ${Object.keys(COMMANDS).join(', ')}, help, quit`);
    rl.on('line', (line) => {
      const name = line.trim().toLowerCase();
      if (name === 'quit' || name === 'exit') process.exit(0);
      else if (COMMANDS[name] && ws && ws.readyState === 1) send(COMMANDS[name]);
      else if (name === 'help') console.log(`Commands: ${Object.keys(COMMANDS).join(', ')}, help, quit`);
      else if (name) console.log(`unknown command ${JSON.stringify(name)} (type help)`);
    });
    // End of input ends an interactive session (Ctrl-D); without a terminal (</dev/null, a
    // service) the client goes on streaming until a signal, as the Python client does.
    rl.on('close', () => { if (process.stdin.isTTY) process.exit(0); });
  }
  process.on('SIGINT', () => { console.error('\nbye'); process.exit(130); });
  connect();
}

main();
