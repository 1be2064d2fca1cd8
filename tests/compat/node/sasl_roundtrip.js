#!/usr/bin/env node
// kafkajs over SASL_PLAINTEXT, or SASL_SSL given a CA, for tests/compat (test_sasl.py,
// test_oauthbearer.py, test_security_matrix.py).
//
//   node sasl_roundtrip.js BROKERS MECHANISM USER PASSWORD TOPIC [CA_PEM]
//
// MECHANISM is kafkajs' name (plain, scram-sha-256, scram-sha-512, oauthbearer: then PASSWORD
// is the token its oauthBearerProvider hands out and USER is ignored). Creates TOPIC, produces
// "v0".."v2" to partition 0 and reads them back from the beginning; prints
// {"produced": 3, "consumed": ["v0", "v1", "v2"]}, or exits 1 with {"error": "..."}.
'use strict'

const fs = require('fs')
const { Kafka, logLevel } = require('kafkajs')

const args = process.argv.slice(2)
if (args.length !== 5 && args.length !== 6) {
  process.stderr.write('usage: node sasl_roundtrip.js BROKERS MECHANISM USER PASSWORD TOPIC [CA_PEM]\n')
  process.exit(64)
}
const [brokers, mechanism, username, password, topic, caPath] = args

const kafka = new Kafka({
  clientId: 'strom-compat-sasl',
  brokers: brokers.split(','),
  sasl: mechanism === 'oauthbearer'
    ? { mechanism, oauthBearerProvider: async () => ({ value: password }) }
    : { mechanism, username, password },
  ssl: caPath ? { ca: [fs.readFileSync(caPath, 'utf-8')], rejectUnauthorized: true } : undefined,
  connectionTimeout: 5000,
  requestTimeout: 15000,
  retry: { retries: 2 },
  logLevel: logLevel.WARN,
  logCreator: () => ({ namespace, label, log }) =>
    process.stderr.write(`${label} ${namespace} ${JSON.stringify(log)}\n`)
})

async function main () {
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
  await admin.disconnect()
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic, messages: ['v0', 'v1', 'v2'].map(value => ({ value, partition: 0 })) })
  await producer.disconnect()
  const consumer = kafka.consumer({ groupId: `g-${topic}` })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const consumed = []
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out consuming')), 30000)
    consumer.run({
      eachMessage: async ({ message }) => {
        consumed.push(message.value.toString())
        if (consumed.length === 3) { clearTimeout(timer); resolve() }
      }
    }).catch(reject)
  })
  await consumer.disconnect()
  process.stdout.write(JSON.stringify({ produced: 3, consumed }) + '\n')
}

main().catch(e => {
  process.stdout.write(JSON.stringify({ error: String(e && e.stack || e) }) + '\n')
  process.exit(1)
})
