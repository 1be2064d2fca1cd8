#!/usr/bin/env node
// kafkajs' transactional producer (EndTxn v0-4, the transactions v1 protocol), for
// tests/compat (test_transaction_coordinator.py).
//
//   node txn_producer.js BROKERS TOPIC TRANSACTIONAL_ID
//
// Runs three transactions on TOPIC partition 0: commits "c0".."c2", aborts "a0".."a2", commits
// "c3".."c5"; prints {"ok": true} on success, or exits 1 with {"error": "..."}.
'use strict'

const { Kafka, logLevel } = require('kafkajs')

const args = process.argv.slice(2)
if (args.length !== 3) {
  process.stderr.write('usage: node txn_producer.js BROKERS TOPIC TRANSACTIONAL_ID\n')
  process.exit(64)
}
const [brokers, topic, transactionalId] = args

const kafka = new Kafka({
  clientId: 'strom-compat-txn',
  brokers: brokers.split(','),
  connectionTimeout: 5000,
  requestTimeout: 15000,
  retry: { retries: 10 },
  logLevel: logLevel.WARN,
  logCreator: () => ({ namespace, label, log }) =>
    process.stderr.write(`${label} ${namespace} ${JSON.stringify(log)}\n`)
})

async function run () {
  const producer = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  try {
    const batches = [['c0', 'c1', 'c2', true], ['a0', 'a1', 'a2', false], ['c3', 'c4', 'c5', true]]
    for (const b of batches) {
      const commit = b.pop()
      const txn = await producer.transaction()
      await txn.send({ topic, messages: b.map(value => ({ value, partition: 0 })) })
      if (commit) await txn.commit()
      else await txn.abort()
    }
  } finally {
    await producer.disconnect()
  }
}

run().then(
  () => { process.stdout.write(JSON.stringify({ ok: true }) + '\n') },
  (e) => { process.stdout.write(JSON.stringify({ error: String(e && e.stack || e) }) + '\n'); process.exit(1) }
)
