#!/usr/bin/env node
// kafkajs over TLS, for tests/compat (test_tls.py).
//
//   node tls_roundtrip.js BROKERS TOPIC CA_PEM [CERT_PEM KEY_PEM]
//
// Connects with ssl (the CA to trust; a client certificate and key for mutual TLS), produces
// five records "kafkajs-0".."kafkajs-4" to partition 0 of TOPIC, reads partition 0 back from
// the beginning with a consumer group, and prints one JSON line:
//   {"produced": 5, "values": ["kafkajs-0", ...]}
// Exits 1 with {"error": "..."} on failure (an untrusted certificate, say).
'use strict'

const fs = require('fs')
const { Kafka, logLevel } = require('kafkajs')

const [brokers, topic, caPath, certPath, keyPath] = process.argv.slice(2)
if (!brokers || !topic || !caPath) {
  process.stderr.write('usage: node tls_roundtrip.js BROKERS TOPIC CA_PEM [CERT_PEM KEY_PEM]\n')
  process.exit(64)
}
const ssl = { ca: [fs.readFileSync(caPath, 'utf-8')], rejectUnauthorized: true }
if (certPath) {
  ssl.cert = fs.readFileSync(certPath, 'utf-8')
  ssl.key = fs.readFileSync(keyPath, 'utf-8')
}
const kafka = new Kafka({
  clientId: 'strom-compat-tls',
  brokers: brokers.split(','),
  ssl,
  connectionTimeout: 5000,
  requestTimeout: 15000,
  retry: { retries: 2 },
  logLevel: logLevel.NOTHING
})

async function main () {
  const producer = kafka.producer()
  await producer.connect()
  const messages = [0, 1, 2, 3, 4].map(i => ({ value: `kafkajs-${i}`, partition: 0 }))
  await producer.send({ topic, messages, acks: -1 })
  await producer.disconnect()

  const consumer = kafka.consumer({ groupId: `tls-${topic}`, sessionTimeout: 10000, heartbeatInterval: 1000 })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const values = []
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${values.length} records in 40s`)), 40000)
    consumer.run({
      eachMessage: async ({ message }) => {
        values.push(message.value.toString())
        if (values.length >= 5) { clearTimeout(timer); resolve() }
      }
    }).catch(reject)
  })
  await consumer.disconnect()
  process.stdout.write(JSON.stringify({ produced: messages.length, values }) + '\n')
}

const deadline = setTimeout(() => {
  process.stdout.write(JSON.stringify({ error: 'timed out after 60s' }) + '\n')
  process.exit(1)
}, 60000)
main().then(() => { clearTimeout(deadline); process.exit(0) }).catch(e => {
  process.stdout.write(JSON.stringify({ error: String(e && e.message || e) }) + '\n')
  process.exit(1)
})
