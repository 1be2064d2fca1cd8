#!/usr/bin/env node
// A kafkajs consumer group member, for tests/compat (test_consumer_groups.py).
//
//   node group_consumer.js BROKERS TOPIC GROUP COUNT TIMEOUT_S
//
// Joins GROUP (subscribed to TOPIC, from the beginning when the group has no committed offset) and
// writes one JSON line per event to stdout:
//   {"event": "assigned", "partitions": [0, 2], "memberId": "..."}          after every rebalance
//   {"event": "message", "partition": 0, "offset": 5, "value": "..."}        each record processed
//   {"event": "done", "count": COUNT, "committed": {"0": "6", ...}}          then exit 0
//   {"event": "crash", "restart": true, ...}                               kafkajs restarts the consumer
//   {"event": "timeout", "count": N} (exit 2), {"event": "error", ...} (exit 1), {"event": "crash", "restart": false} (exit 3)
// Processing a record means printing it and committing its offset + 1 (synchronously, no
// auto-commit), so what the group has committed is exactly what was printed. A record seen again
// after a rebalance whose commit failed is not printed twice. Exits once COUNT distinct records
// have been processed, after leaving the group. kafkajs' own logs go to stderr.
'use strict'

const { Kafka, logLevel } = require('kafkajs')

const args = process.argv.slice(2)
if (args.length !== 5) {
  process.stderr.write('usage: node group_consumer.js BROKERS TOPIC GROUP COUNT TIMEOUT_S\n')
  process.exit(64)
}
const [brokers, topic, groupId, countArg, timeoutArg] = args
const expected = Number(countArg)
const timeoutMs = Number(timeoutArg) * 1000

const emit = obj => process.stdout.write(JSON.stringify(obj) + '\n')
const toStderr = () => ({ level, log }) => {
  const { message, ...extra } = log
  process.stderr.write(`kafkajs[${level}] ${message} ${JSON.stringify(extra)}\n`)
}

const kafka = new Kafka({
  clientId: 'compat-kafkajs',
  brokers: brokers.split(','),
  logLevel: logLevel.WARN,
  logCreator: toStderr,
})
const consumer = kafka.consumer({
  groupId,
  sessionTimeout: 10000,
  heartbeatInterval: 500,
  rebalanceTimeout: 30000,
  maxWaitTimeInMs: 100,
})

const seen = new Set()
const committed = {}
let finish
const finished = new Promise(resolve => { finish = resolve })

consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
  const partitions = (payload.memberAssignment[topic] || []).slice().sort((a, b) => a - b)
  emit({ event: 'assigned', partitions, memberId: payload.memberId })
})
consumer.on(consumer.events.CRASH, ({ payload }) => {
  // kafkajs restarts the consumer itself after a retriable error (e.g. COORDINATOR_LOAD_IN_PROGRESS
  // from a coordinator still loading its partition); only a crash it gives up on ends the run.
  emit({ event: 'crash', restart: payload.restart, error: String(payload.error && payload.error.stack || payload.error) })
  if (!payload.restart) process.exit(3)
})

async function main () {
  const timer = setTimeout(() => {
    emit({ event: 'timeout', count: seen.size })
    process.exit(2)
  }, timeoutMs)

  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      const key = `${partition}:${message.offset}`
      if (seen.size >= expected || seen.has(key)) return
      seen.add(key)
      emit({
        event: 'message',
        partition,
        offset: Number(message.offset),
        value: message.value === null ? null : message.value.toString(),
      })
      const next = (BigInt(message.offset) + 1n).toString()
      try {
        await consumer.commitOffsets([{ topic, partition, offset: next }])
        committed[partition] = next
      } catch (e) {
        // A rebalance can refuse the commit; the record may then come back, and is not printed again.
        process.stderr.write(`commit of ${topic}-${partition}@${next} failed: ${e && e.message}\n`)
      }
      if (seen.size === expected) finish()
    },
  })

  await finished
  await consumer.disconnect()
  clearTimeout(timer)
  emit({ event: 'done', count: seen.size, committed })
  process.exit(0)
}

main().catch(e => {
  emit({ event: 'error', error: String(e && e.stack || e) })
  process.exit(1)
})
