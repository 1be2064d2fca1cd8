//! ConsumerGroupDescribe (KIP-848): epochs, assignor, and every member's
//! current and target assignment.

use futures_util::future::join_all;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, GroupId, TopicName,
};

use strom_coordinator::api::Reply;

use super::consumer_group_heartbeat::ImageTopics;
use super::{opt_str_bytes, str_bytes, string};
use crate::broker::BrokerState;

pub(crate) async fn handle(
    state: &BrokerState,
    req: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    let ids: Vec<String> = req.group_ids.iter().map(|g| string(&g.0)).collect();
    let described = join_all(ids.iter().cloned().map(|group_id| async move {
        let id = group_id.clone();
        match state
            .groups
            .call(
                &id,
                Box::new(move |shard, reply, _| {
                    shard.consumer_group_describe(reply, vec![group_id])
                }),
            )
            .await
        {
            Ok(Reply::ConsumerGroupDescribe(mut gs)) if gs.len() == 1 => Ok(gs.remove(0)),
            Ok(_) => Err(ResponseError::UnknownServerError.code()),
            Err(code) => Err(code),
        }
    }))
    .await;
    let topics = ImageTopics(state.image());
    let assignment = |pairs: Vec<(uuid::Uuid, Vec<i32>)>| {
        let mut a = Assignment::default();
        a.topic_partitions = pairs
            .into_iter()
            .map(|(id, partitions)| {
                let mut tp = TopicPartitions::default();
                tp.topic_id = id;
                tp.topic_name = TopicName(str_bytes(&topics.topic_name(id).unwrap_or_default()));
                tp.partitions = partitions;
                tp
            })
            .collect();
        a
    };
    let mut resp = ConsumerGroupDescribeResponse::default();
    resp.groups = ids
        .into_iter()
        .zip(described)
        .map(|(group_id, d)| {
            let mut g = DescribedGroup::default();
            g.group_id = GroupId(str_bytes(&group_id));
            g.authorized_operations = i32::MIN;
            match d {
                Err(code) => g.error_code = code,
                Ok(d) => {
                    g.error_code = d.error_code;
                    g.error_message = opt_str_bytes(&d.error_message);
                    g.group_state = str_bytes(&d.group_state);
                    g.group_epoch = d.group_epoch;
                    g.assignment_epoch = d.assignment_epoch;
                    g.assignor_name = str_bytes(&d.assignor_name);
                    g.members = d
                        .members
                        .into_iter()
                        .map(|m| {
                            let mut out = Member::default();
                            out.member_id = str_bytes(&m.member_id);
                            out.instance_id = opt_str_bytes(&m.instance_id);
                            out.rack_id = opt_str_bytes(&m.rack_id);
                            out.member_epoch = m.member_epoch;
                            out.client_id = str_bytes(&m.client_id);
                            out.client_host = str_bytes(&m.client_host);
                            out.subscribed_topic_names = m
                                .subscribed_topic_names
                                .iter()
                                .map(|t| TopicName(str_bytes(t)))
                                .collect();
                            out.subscribed_topic_regex = opt_str_bytes(&m.subscribed_topic_regex);
                            out.assignment = assignment(m.assignment);
                            out.target_assignment = assignment(m.target_assignment);
                            // 1 = a member of the consumer protocol (0 = classic).
                            out.member_type = 1;
                            out
                        })
                        .collect();
                }
            }
            g
        })
        .collect();
    resp
}
