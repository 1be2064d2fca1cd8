#!/usr/bin/env node
// kafkajs over any security protocol, for tests/compat (test_security_matrix.py).
//
//   node security_roundtrip.js CONFIG_JSON
//
// CONFIG_JSON: {"brokers": "host:port", "topic": "...", "ca": "/path/ca.pem" (TLS, optional),
//   "mechanism": "plain" | "scram-sha-256" | "scram-sha-512" | "oauthbearer" (optional),
//   "username": "...", "password": "...", "token": "..." (OAUTHBEARER's bearer token)}.
// Creates TOPIC, produces "v0".."v2" to partition 0 with acks=all and reads them back with a
// consumer group; prints {"produced": 3, "consumed": ["v0", "v1", "v2"]}, or exits 1 with
// {"error": "..."}.
'use strict'

const fs = require('fs')
const { Kafka, logLevel } = require('kafkajs')

const config = JSON.parse(process.argv[2] || '{}')
if (!config.brokers || !config.topic) {
  process.stderr.write('usage: node security_roundtrip.js \'{"brokers": ..., "topic": ...}\'\n')
  process.exit(64)
}
const options = {
  clientId: 'strom-compat-security',
  brokers: config.brokers.split(','),
  connectionTimeout: 5000,
  requestTimeout: 15000,
  retry: { retries: 2 },
  logLevel: logLevel.WARN,
  logCreator: () => ({ namespace, label, log }) =>
    process.stderr.write(`${label} ${namespace} ${JSON.stringify(log)}\n`)
}
if (config.ca) {
  options.ssl = { ca: [fs.readFileSync(config.ca, 'utf-8')], rejectUnauthorized: true }
}
if (config.mechanism === 'oauthbearer') {
  options.sasl = { mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: config.token }) }
} else if (config.mechanism) {
  options.sasl = { mechanism: config.mechanism, username: config.username, password: config.password }
}
const kafka = new Kafka(options)
const topic = config.topic

async function main () {
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
  await admin.disconnect()
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic, acks: -1, messages: ['v0', 'v1', 'v2'].map(value => ({ value, partition: 0 })) })
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
