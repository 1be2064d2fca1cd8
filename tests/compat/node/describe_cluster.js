#!/usr/bin/env node
// kafkajs' view of a cluster, for tests/compat (test_cluster.py).
//
//   node describe_cluster.js BROKERS
//
// Connects an admin client bootstrapped from BROKERS (comma-separated host:port), runs
// admin.describeCluster() and admin.fetchTopicMetadata() (all topics), and prints one JSON line:
//   {"brokers": [{"nodeId": 1, "host": "...", "port": 19092}, ...], "controller": 1,
//    "clusterId": "...", "topics": ["a", ...]}
// Exits 1 with {"error": "..."} on failure. kafkajs' own logs go to stderr.
'use strict'

const { Kafka, logLevel } = require('kafkajs')

const args = process.argv.slice(2)
if (args.length !== 1) {
  process.stderr.write('usage: node describe_cluster.js BROKERS\n')
  process.exit(64)
}

const kafka = new Kafka({
  clientId: 'strom-compat-describe',
  brokers: args[0].split(','),
  connectionTimeout: 5000,
  requestTimeout: 15000,
  retry: { retries: 3 },
  logLevel: logLevel.WARN,
  logCreator: () => ({ namespace, label, log }) =>
    process.stderr.write(`${label} ${namespace} ${JSON.stringify(log)}\n`)
})

async function main () {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const cluster = await admin.describeCluster()
    const metadata = await admin.fetchTopicMetadata()
    process.stdout.write(JSON.stringify({
      brokers: cluster.brokers.map(b => ({ nodeId: b.nodeId, host: b.host, port: b.port })),
      controller: cluster.controller,
      clusterId: cluster.clusterId,
      topics: metadata.topics.map(t => t.name)
    }) + '\n')
  } finally {
    await admin.disconnect()
  }
}

main().catch(e => {
  process.stdout.write(JSON.stringify({ error: String(e && e.stack || e) }) + '\n')
  process.exit(1)
})
