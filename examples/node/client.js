// promptpress from Node.js: Preprocess, Complete, and a rejected request whose
// google.rpc.BadRequest details are decoded.
//
//   npm install            (in this folder)
//   node client.js 127.0.0.1:50051 [API_KEY]
//
// Prints one JSON line per call: {"call": "...", ...}. Exit 1 on an unexpected error.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const PROTO_ROOT = path.resolve(__dirname, '..', '..', 'proto');
const THIRD_PARTY = path.join(PROTO_ROOT, 'third_party');

// keepCase: false (the default) turns snake_case fields into camelCase, like
// proto3 JSON; enums: String gives enum *names* ("ROLE_USER"), which is also
// what the request accepts. defaults: true fills unset fields (0, "", false).
const definition = protoLoader.loadSync('promptpress/v1/promptpress.proto', {
  includeDirs: [PROTO_ROOT],
  keepCase: false,
  enums: String,
  longs: Number,
  defaults: true,
  oneofs: true,
});
const pp = grpc.loadPackageDefinition(definition).promptpress.v1;

// keepCase: true here, so the decoded details keep the .proto's snake_case names.
// The error details travel as a serialized google.rpc.Status in the
// `grpc-status-details-bin` trailer; its details are google.protobuf.Any.
const rpcRoot = new protobuf.Root();
rpcRoot.resolvePath = (_origin, target) =>
  target.startsWith('google/rpc/') ? path.join(THIRD_PARTY, target) : target;
rpcRoot.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto'], { keepCase: true });
const Status = rpcRoot.lookupType('google.rpc.Status');
const BadRequest = rpcRoot.lookupType('google.rpc.BadRequest');

function decodeDetails(err) {
  const raw = err.metadata && err.metadata.get('grpc-status-details-bin')[0];
  if (!raw) return { violations: [] };
  const status = Status.decode(raw);
  const violations = [];
  for (const any of status.details) {
    if (any.type_url.endsWith('/google.rpc.BadRequest')) {
      for (const v of BadRequest.decode(any.value).field_violations) {
        violations.push({ field: v.field, description: v.description });
      }
    }
  }
  return { statusCode: status.code, violations };
}

function call(client, method, request, metadata) {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + 60_000);
    client[method](request, metadata, { deadline }, (err, response) =>
      err ? reject(err) : resolve(response),
    );
  });
}

async function main() {
  const [address = '127.0.0.1:50051', apiKey] = process.argv.slice(2);
  const client = new pp.PromptPressService(address, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  if (apiKey) metadata.set('authorization', `Bearer ${apiKey}`);

  const pre = await call(client, 'Preprocess', {
    messages: [
      { role: 'ROLE_SYSTEM', content: 'Answer briefly.' },
      { role: 'ROLE_USER', content: 'What is the capital of France?' },
    ],
    target: { provider: 'openai', model: 'gpt-4o' },
    budget: { maxHistoryTokens: 4000 },
  }, metadata);
  console.log(JSON.stringify({
    call: 'Preprocess',
    originalTokens: pre.stats.originalTokens,
    finalTokens: pre.stats.finalTokens,
    promptCacheKey: pre.cache.promptCacheKey,
    providerBody: JSON.parse(pre.providerBody),
  }));

  const done = await call(client, 'Complete', {
    request: {
      messages: [{ role: 'ROLE_USER', content: 'What is the capital of France?' }],
      target: { provider: 'openai', model: 'gpt-4o-mini' },
    },
  }, metadata);
  console.log(JSON.stringify({
    call: 'Complete',
    content: done.message.content,
    tier: done.routing.tier,
    cacheStatus: done.cacheStatus,
    costUsd: done.costUsd,
  }));

  try {
    await call(client, 'Preprocess', {
      messages: [{ role: 'ROLE_UNSPECIFIED', content: 'hi' }],
    }, metadata);
    throw new Error('a message without a role was accepted');
  } catch (err) {
    if (err.code !== grpc.status.INVALID_ARGUMENT) throw err;
    console.log(JSON.stringify({
      call: 'Preprocess(bad)',
      code: grpc.status[err.code],
      details: err.details,
      ...decodeDetails(err),
    }));
  }
  client.close();
}

main().catch((err) => {
  console.error(`error: ${err.message}`);
  process.exit(1);
});
