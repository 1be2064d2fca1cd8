"""A transactional producer's pipelined batches keep their order on a replicated partition.

The first batch of a transaction on a partition waits for the transaction coordinator (KIP-890
verification). Batches pipelined behind it on the same connection must not be appended ahead of it:
once the first batch is in, a later request of the producer needs no verification, and appending it
before the batches still being verified is refused with OUT_OF_ORDER_SEQUENCE_NUMBER, which
librdkafka treats as fatal ("sequence desynchronization"). Kafka handles one request of a connection
at a time, so the order holds there; librdkafka's own suite (0103_transactions,
do_test_fatal_idempo_error_without_kip360: one record per batch, six batches in flight) found it on
a 3-node cluster, where the coordinator is usually on another node.
"""

from __future__ import annotations

from clients import produce_all, producer, unique
from test_cluster import TUNED, cluster_factory  # noqa: F401
from test_replication import replicated_topic
from test_transactions import read

TRANSACTIONS = 3
BATCHES = 6  # one record each: more than librdkafka's 5 requests in flight per connection


def test_pipelined_transactional_batches_are_appended_in_order_on_a_replicated_partition(cluster_factory):
    c = cluster_factory({**TUNED, "transaction.state.log.num.partitions": "4"})
    bootstrap = ",".join(n.bootstrap for n in c.nodes.values())
    topic = unique("txn-order")
    replicated_topic(c, topic)
    p = producer(bootstrap, transactional_id=unique("txn-order"), batch_num_messages=1, linger_ms=0,
                 acks="all")
    p.init_transactions(30)
    expected = []
    for t in range(TRANSACTIONS):
        p.begin_transaction()
        values = [f"t{t}-{i}".encode() for i in range(BATCHES)]
        reports = produce_all(p, topic, [{"value": v, "partition": 0} for v in values])
        assert [(r.value, r.error) for r in reports] == [(v, None) for v in values]
        # Offsets follow the produce order (each transaction's batches one after another).
        offsets = [r.offset for r in reports]
        assert offsets == sorted(offsets) and len(set(offsets)) == BATCHES
        p.commit_transaction(30)
        expected += values
    assert [v for _, v in read(bootstrap, topic, 0, "read_committed")] == expected
