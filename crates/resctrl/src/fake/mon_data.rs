//! `mon_data`: the event files of each L3 domain and, under sub-NUMA clustering, of each
//! NUMA node below it, and what they read.

use super::FakeReading;
use super::model::{DirNode, FileNode, Node, State};
use crate::monitoring::MonEvent;

/// Where an event file sits: an L3 domain (`mon_L3_NN`), or one NUMA node of it under
/// sub-NUMA clustering (`mon_L3_NN/mon_sub_L3_YY`, by node id, which is unique).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum MonScope {
    L3(u32),
    Node(u32),
}

pub(super) fn domain_dir_name(id: u32) -> String {
    format!("mon_L3_{id:02}")
}

pub(super) fn node_dir_name(id: u32) -> String {
    format!("mon_sub_L3_{id:02}")
}

impl State {
    pub(super) fn resolve_mon_data(&self, key: &str, rest: &[&str]) -> Node {
        let domain = |name: &str| {
            self.domains
                .iter()
                .copied()
                .find(|&d| domain_dir_name(d) == name)
        };
        let node = |d: u32, name: &str| {
            self.sub_nodes(d)
                .into_iter()
                .find(|&n| node_dir_name(n) == name)
        };
        let event = |scope: MonScope, file: &str| match MonEvent::from_file_name(file) {
            Some(e) if self.event_present(key, scope, e) => {
                Node::File(FileNode::Event(key.to_owned(), scope, e))
            }
            _ => Node::Missing,
        };
        let Some((dir, rest)) = rest.split_first() else {
            return Node::Dir(DirNode::MonData(key.to_owned()));
        };
        let Some(d) = domain(dir) else {
            return Node::Missing;
        };
        match rest {
            [] => Node::Dir(DirNode::Domain(key.to_owned(), d)),
            [name] => match node(d, name) {
                Some(n) => Node::Dir(DirNode::SubDomain(key.to_owned(), n)),
                None => event(MonScope::L3(d), name),
            },
            [sub, file] => match node(d, sub) {
                Some(n) => event(MonScope::Node(n), file),
                None => Node::Missing,
            },
            _ => Node::Missing,
        }
    }

    /// The NUMA nodes of L3 domain `l3` under sub-NUMA clustering (none when it is off):
    /// like the kernel's, node ids run on across the domains in order.
    pub(super) fn sub_nodes(&self, l3: u32) -> Vec<u32> {
        let per = self.snc_nodes_per_l3;
        if per <= 1 {
            return Vec::new();
        }
        let Some(index) = self.domains.iter().position(|&d| d == l3) else {
            return Vec::new();
        };
        let first = u32::try_from(index).unwrap_or(u32::MAX).saturating_mul(per);
        (first..first.saturating_add(per)).collect()
    }

    pub(super) fn event_present(&self, key: &str, scope: MonScope, event: MonEvent) -> bool {
        self.features.contains(&event)
            && self.readings.get(&(key.to_owned(), scope, event)) != Some(&FakeReading::Absent)
    }

    /// What an event file shows. Unset, it reads 0, except for an L3 domain split into
    /// NUMA nodes: that reads like the kernel's sum over its nodes, which leaves out the
    /// nodes whose read fails as long as one succeeds (and shows the first failure when
    /// none does).
    pub(super) fn reading(&self, key: &str, scope: MonScope, event: MonEvent) -> FakeReading {
        if let Some(&set) = self.readings.get(&(key.to_owned(), scope, event)) {
            return set;
        }
        let MonScope::L3(d) = scope else {
            return FakeReading::Value(0);
        };
        let mut sum: Option<u64> = None;
        let mut failure = None;
        for n in self.sub_nodes(d) {
            match self.reading(key, MonScope::Node(n), event) {
                // The kernel adds u64 counters without overflow checks.
                FakeReading::Value(v) => sum = Some(sum.unwrap_or(0).wrapping_add(v)),
                FakeReading::Absent => {}
                other => failure = failure.or(Some(other)),
            }
        }
        sum.map(FakeReading::Value)
            .or(failure)
            .unwrap_or(FakeReading::Value(0))
    }
}
