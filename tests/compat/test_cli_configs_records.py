"""`strom configs describe|alter` (kafka-configs.sh) and `strom records delete`
(kafka-delete-records.sh) against a real broker, checked through librdkafka's admin client and
consumer: what the CLI sets is what the broker describes back, and deleted records are gone.
"""

from __future__ import annotations

import json
import subprocess

import confluent_kafka as ck

from clients import CLIENT_TIMEOUT_S, admin, assert_delivered, consume, create_topic, produce_all, producer, unique

CLI_S = 60.0


def strom(b, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run([str(b.binary), *args, "--bootstrap-server", b.bootstrap],
                         capture_output=True, text=True, timeout=CLI_S)
    if ok:
        assert out.returncode == 0, f"strom {' '.join(args)} exited {out.returncode}:\n{out.stdout}{out.stderr}"
    return out


def topic_config(bootstrap: str, topic: str) -> dict[str, str]:
    res = ck.admin.ConfigResource(ck.admin.ResourceType.TOPIC, topic)
    a = admin(bootstrap)  # kept alive until the result is in
    entries = a.describe_configs([res])[res].result(CLIENT_TIMEOUT_S)
    return {k: e.value for k, e in entries.items()}


def test_topic_configs_alter_and_describe(broker):
    topic = unique("cfg")
    create_topic(broker.bootstrap, topic)
    done = strom(broker, "configs", "alter", "--entity-type", "topics", "--entity-name", topic,
                 "--add-config", "retention.ms=123456,cleanup.policy=[compact,delete]")
    assert done.stdout == f"Completed updating config for topic {topic}.\n"
    seen = topic_config(broker.bootstrap, topic)
    assert seen["retention.ms"] == "123456" and seen["cleanup.policy"] == "compact,delete"
    described = strom(broker, "configs", "describe", "--entity-type", "topics", "--entity-name", topic)
    assert described.stdout.splitlines() == [
        f"Dynamic configs for topic {topic} are:",
        "  cleanup.policy=compact,delete sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact,delete}",
        "  retention.ms=123456 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=123456}",
    ]
    strom(broker, "configs", "alter", "--entity-type", "topics", "--entity-name", topic,
          "--delete-config", "cleanup.policy")
    js = json.loads(strom(broker, "configs", "describe", "--entity-type", "topics", "--entity-name", topic,
                          "--output", "json").stdout)
    assert [(c["name"], c["value"], c["source"]) for c in js] == [("retention.ms", "123456", "DYNAMIC_TOPIC_CONFIG")]
    everything = json.loads(strom(broker, "configs", "describe", "--entity-type", "topics", "--entity-name", topic,
                                  "--all", "--output", "json").stdout)
    by_name = {c["name"]: c for c in everything}
    assert by_name["cleanup.policy"]["value"] == "delete" and by_name["cleanup.policy"]["source"] == "DEFAULT_CONFIG"
    bad = strom(broker, "configs", "alter", "--entity-type", "topics", "--entity-name", topic,
                "--add-config", "retention.ms=soon", ok=False)
    assert bad.returncode == 1 and "INVALID_CONFIG" in bad.stderr and "nothing was changed" in bad.stderr


def test_broker_default_and_broker_configs(broker):
    strom(broker, "configs", "alter", "--entity-type", "brokers", "--entity-default",
          "--add-config", "log.retention.ms=7200000")
    d = strom(broker, "configs", "describe", "--entity-type", "brokers", "--entity-default")
    assert d.stdout.splitlines()[0] == "Default configs for brokers in the cluster are:"
    assert "  log.retention.ms=7200000 sensitive=false" in d.stdout
    out = strom(broker, "configs", "alter", "--entity-type", "brokers", "--entity-name", "1",
                "--add-config", "log.cleaner.threads=2")
    assert out.stdout == "Completed updating config for broker 1.\n"
    one = json.loads(strom(broker, "configs", "describe", "--entity-type", "brokers", "--entity-name", "1",
                           "--output", "json").stdout)
    assert ("log.cleaner.threads", "2", "DYNAMIC_BROKER_CONFIG") in [(c["name"], c["value"], c["source"]) for c in one]
    missing = strom(broker, "configs", "describe", "--entity-type", "brokers", "--entity-name", "77", ok=False)
    assert missing.returncode == 1 and "broker 77" in missing.stderr
    usage = strom(broker, "configs", "describe", "--entity-type", "topics", ok=False)
    assert usage.returncode == 1 and "--entity-name" in usage.stderr


def test_records_delete_moves_the_log_start(broker, tmp_path):
    topic = unique("del")
    create_topic(broker.bootstrap, topic, partitions=2)
    p = producer(broker.bootstrap)
    assert_delivered(produce_all(p, topic, [{"partition": i % 2, "value": f"v{i}".encode()} for i in range(10)]))
    f = tmp_path / "offsets.json"
    f.write_text(json.dumps({"partitions": [{"topic": topic, "partition": 0, "offset": 3},
                                            {"topic": topic, "partition": 1, "offset": -1}], "version": 1}))
    out = strom(broker, "records", "delete", "--offset-json-file", str(f))
    assert out.stdout.splitlines() == [
        "Executing records delete operation",
        "Records delete operation completed:",
        f"partition: {topic}-0\tlow_watermark: 3",
        f"partition: {topic}-1\tlow_watermark: 5",
    ]
    assert [m.value() for m in consume(broker.bootstrap, topic, partition=0)] == [b"v6", b"v8"]
    assert consume(broker.bootstrap, topic, partition=1) == []
    f.write_text(json.dumps({"partitions": [{"topic": topic, "partition": 0, "offset": 99}]}))
    past = strom(broker, "records", "delete", "--offset-json-file", str(f), ok=False)
    assert past.returncode == 1
    assert f"partition: {topic}-0\terror: OFFSET_OUT_OF_RANGE" in past.stdout
