#!/usr/bin/env node
// kafkajs transactions, for tests/compat (test_transactions_clients.py).
//
//   node transactions.js BROKERS TOPIC TRANSACTIONAL_ID GROUP TIMEOUT_S
//
// With one transactional producer, all on partition 0 of TOPIC, in this order:
//   1. send c0, c1; commit                                          (offsets 0-1, marker 2)
//   2. send a0, a1; abort                                           (offsets 3-4, marker 5)
//   3. send o0; sendOffsets(GROUP: TOPIC-0 -> 42); commit           (offset 6, marker 7)
//   4. send x0; sendOffsets(GROUP: TOPIC-0 -> 99); abort            (offset 8, marker 9)
// so a read_committed consumer sees c0 c1 o0, read_uncommitted c0 c1 a0 a1 o0 x0, and GROUP has
// 42 committed on TOPIC-0. One JSON line per step on stdout:
//   {"event": "step", "step": 1, "offsets": ["0", "1"]}   the offsets kafkajs reported for the sends
//   {"event": "done"} then exit 0;  {"event": "error", ...} exit 1;  {"event": "timeout"} exit 2
// kafkajs' own logs go to stderr.
'use strict'

const { Kafka, logLevel } = require('kafkajs')

const args = process.argv.slice(2)
if (args.length !== 5) {
  process.stderr.write('usage: node transactions.js BROKERS TOPIC TRANSACTIONAL_ID GROUP TIMEOUT_S\n')
  process.exit(64)
}
const [brokers, topic, transactionalId, groupId, timeoutArg] = args

const emit = obj => process.stdout.write(JSON.stringify(obj) + '\n')
const toStderr = () => ({ level, log }) => {
  const { message, ...extra } = log
  process.stderr.write(`kafkajs[${level}] ${message} ${JSON.stringify(extra)}\n`)
}

const kafka = new Kafka({
  clientId: 'compat-kafkajs-txn',
  brokers: brokers.split(','),
  logLevel: logLevel.WARN,
  logCreator: toStderr,
})
const producer = kafka.producer({
  transactionalId,
  idempotent: true,
  maxInFlightRequests: 1,
  transactionTimeout: 30000,
})

async function step (number, values, offset, commit) {
  const transaction = await producer.transaction()
  try {
    const results = await transaction.send({ topic, messages: values.map(value => ({ partition: 0, value })) })
    if (offset !== null) {
      await transaction.sendOffsets({
        consumerGroupId: groupId,
        topics: [{ topic, partitions: [{ partition: 0, offset: String(offset) }] }],
      })
    }
    if (commit) await transaction.commit()
    else await transaction.abort()
    // kafkajs reports the base offset of each produced batch per partition.
    emit({ event: 'step', step: number, offsets: results.map(r => r.baseOffset) })
  } catch (e) {
    if (transaction.isActive()) await transaction.abort().catch(() => {})
    throw e
  }
}

async function main () {
  const timer = setTimeout(() => {
    emit({ event: 'timeout' })
    process.exit(2)
  }, Number(timeoutArg) * 1000)
  await producer.connect()
  await step(1, ['c0', 'c1'], null, true)
  await step(2, ['a0', 'a1'], null, false)
  await step(3, ['o0'], 42, true)
  await step(4, ['x0'], 99, false)
  await producer.disconnect()
  clearTimeout(timer)
  emit({ event: 'done' })
  process.exit(0)
}

main().catch(e => {
  emit({ event: 'error', error: String(e && e.stack || e) })
  process.exit(1)
})
