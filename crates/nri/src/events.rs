//! NRI lifecycle events and the subscription mask a plugin returns from
//! `Configure`.
//!
//! The numbering is the wire value of the `Event` enum; the mask bit of event
//! `e` is `1 << (e - 1)`. Runtimes reject a mask with bits they do not know
//! and drop the plugin, so the stub trims masks to what the runtime accepts
//! (see [`EventMask::accepted_by_runtime`]).

use std::fmt;
use std::ops::{BitAnd, BitOr, Sub};

use crate::proto::nri;

/// A pod or container lifecycle event a plugin can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Event {
    /// A pod sandbox is being started.
    RunPodSandbox = 1,
    /// A pod sandbox is being stopped.
    StopPodSandbox = 2,
    /// A pod sandbox is being removed.
    RemovePodSandbox = 3,
    /// A container is being created (the plugin may adjust it).
    CreateContainer = 4,
    /// A container was created.
    PostCreateContainer = 5,
    /// A container is being started.
    StartContainer = 6,
    /// A container was started; its `pid` is set from here on.
    PostStartContainer = 7,
    /// A container's resources are being updated.
    UpdateContainer = 8,
    /// A container's resources were updated.
    PostUpdateContainer = 9,
    /// A container is being stopped.
    StopContainer = 10,
    /// A container is being removed.
    RemoveContainer = 11,
    /// A pod sandbox's resources are being updated (nri >= v0.10 runtimes).
    UpdatePodSandbox = 12,
    /// A pod sandbox's resources were updated (nri >= v0.10 runtimes).
    PostUpdatePodSandbox = 13,
    /// A container adjustment is offered for validation (nri >= v0.10
    /// runtimes). The stub does not serve this event.
    ValidateContainerAdjustment = 14,
}

impl Event {
    /// Every event, in wire-value order.
    pub const ALL: [Event; 14] = [
        Event::RunPodSandbox,
        Event::StopPodSandbox,
        Event::RemovePodSandbox,
        Event::CreateContainer,
        Event::PostCreateContainer,
        Event::StartContainer,
        Event::PostStartContainer,
        Event::UpdateContainer,
        Event::PostUpdateContainer,
        Event::StopContainer,
        Event::RemoveContainer,
        Event::UpdatePodSandbox,
        Event::PostUpdatePodSandbox,
        Event::ValidateContainerAdjustment,
    ];

    /// The wire value (`Event` enum number).
    pub const fn value(self) -> i32 {
        self as i32
    }

    /// The event with wire value `value`, if it is a known lifecycle event
    /// (0, `UNKNOWN`, is not).
    pub fn from_value(value: i32) -> Option<Event> {
        Event::ALL.iter().copied().find(|e| e.value() == value)
    }

    /// This event's bit in an [`EventMask`].
    pub const fn bit(self) -> u32 {
        1 << (self as u32 - 1)
    }

    /// The event's name, which is also the name of the per-event ttrpc
    /// method of the `Plugin` service.
    pub const fn name(self) -> &'static str {
        match self {
            Event::RunPodSandbox => "RunPodSandbox",
            Event::StopPodSandbox => "StopPodSandbox",
            Event::RemovePodSandbox => "RemovePodSandbox",
            Event::CreateContainer => "CreateContainer",
            Event::PostCreateContainer => "PostCreateContainer",
            Event::StartContainer => "StartContainer",
            Event::PostStartContainer => "PostStartContainer",
            Event::UpdateContainer => "UpdateContainer",
            Event::PostUpdateContainer => "PostUpdateContainer",
            Event::StopContainer => "StopContainer",
            Event::RemoveContainer => "RemoveContainer",
            Event::UpdatePodSandbox => "UpdatePodSandbox",
            Event::PostUpdatePodSandbox => "PostUpdatePodSandbox",
            Event::ValidateContainerAdjustment => "ValidateContainerAdjustment",
        }
    }

    /// Whether the event concerns a pod (and carries no container).
    pub const fn is_pod_event(self) -> bool {
        matches!(
            self,
            Event::RunPodSandbox
                | Event::StopPodSandbox
                | Event::RemovePodSandbox
                | Event::UpdatePodSandbox
                | Event::PostUpdatePodSandbox
        )
    }

    /// The generated protobuf enum value.
    pub fn to_proto(self) -> nri::Event {
        match self {
            Event::RunPodSandbox => nri::Event::RUN_POD_SANDBOX,
            Event::StopPodSandbox => nri::Event::STOP_POD_SANDBOX,
            Event::RemovePodSandbox => nri::Event::REMOVE_POD_SANDBOX,
            Event::CreateContainer => nri::Event::CREATE_CONTAINER,
            Event::PostCreateContainer => nri::Event::POST_CREATE_CONTAINER,
            Event::StartContainer => nri::Event::START_CONTAINER,
            Event::PostStartContainer => nri::Event::POST_START_CONTAINER,
            Event::UpdateContainer => nri::Event::UPDATE_CONTAINER,
            Event::PostUpdateContainer => nri::Event::POST_UPDATE_CONTAINER,
            Event::StopContainer => nri::Event::STOP_CONTAINER,
            Event::RemoveContainer => nri::Event::REMOVE_CONTAINER,
            Event::UpdatePodSandbox => nri::Event::UPDATE_POD_SANDBOX,
            Event::PostUpdatePodSandbox => nri::Event::POST_UPDATE_POD_SANDBOX,
            Event::ValidateContainerAdjustment => nri::Event::VALIDATE_CONTAINER_ADJUSTMENT,
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of [`Event`]s, encoded as the `events` field of `ConfigureResponse`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EventMask(u32);

impl EventMask {
    /// No events.
    pub const EMPTY: EventMask = EventMask(0);

    /// Every event a runtime built with nri v0.8 accepts (bits 0..=10,
    /// `0x7ff`): what containerd 2.0 and 2.1 understand. A mask with any other
    /// bit makes such a runtime drop the plugin.
    pub const NRI_V0_8: EventMask = EventMask(0x7ff);

    /// Every event a runtime built with nri v0.10 or newer accepts (adds
    /// `UpdatePodSandbox`, `PostUpdatePodSandbox` and
    /// `ValidateContainerAdjustment`).
    pub const NRI_V0_10: EventMask = EventMask(0x3fff);

    /// Every event the stub serves: all but `ValidateContainerAdjustment`,
    /// for which the stub answers UNIMPLEMENTED.
    pub const SERVED_BY_STUB: EventMask = EventMask(0x1fff);

    /// The mask with exactly these bits (unknown bits are kept, so that a
    /// mask received from the wire can be checked).
    pub const fn from_bits(bits: u32) -> EventMask {
        EventMask(bits)
    }

    /// The raw bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether `event` is in the set.
    pub const fn contains(self, event: Event) -> bool {
        self.0 & event.bit() != 0
    }

    /// This set plus `event`.
    #[must_use]
    pub const fn with(self, event: Event) -> EventMask {
        EventMask(self.0 | event.bit())
    }

    /// This set without `event`.
    #[must_use]
    pub const fn without(self, event: Event) -> EventMask {
        EventMask(self.0 & !event.bit())
    }

    /// Adds `event` to the set.
    pub fn insert(&mut self, event: Event) {
        self.0 |= event.bit();
    }

    /// The known events in the set, in wire-value order.
    pub fn iter(self) -> impl Iterator<Item = Event> {
        Event::ALL.into_iter().filter(move |e| self.contains(*e))
    }

    /// The events a runtime announcing `nri_version` in `ConfigureRequest`
    /// accepts. Runtimes older than nri v0.12 send no version at all; they
    /// are treated as v0.8 (containerd 2.0/2.1), the conservative choice:
    /// a newer runtime given a smaller mask still works, an older runtime
    /// given a larger one drops the plugin.
    pub fn accepted_by_runtime(nri_version: &str) -> EventMask {
        match parse_minor_version(nri_version) {
            Some((0, minor)) if minor >= 10 => EventMask::NRI_V0_10,
            Some((major, _)) if major >= 1 => EventMask::NRI_V0_10,
            _ => EventMask::NRI_V0_8,
        }
    }
}

/// `(major, minor)` of a version string such as `v0.12.2` or `0.10.0-rc1`.
fn parse_minor_version(version: &str) -> Option<(u32, u32)> {
    let version = version.trim().strip_prefix('v').unwrap_or(version.trim());
    let mut parts = version.split(['.', '-', '+']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

impl FromIterator<Event> for EventMask {
    fn from_iter<I: IntoIterator<Item = Event>>(iter: I) -> Self {
        iter.into_iter().fold(EventMask::EMPTY, EventMask::with)
    }
}

impl From<Event> for EventMask {
    fn from(event: Event) -> Self {
        EventMask(event.bit())
    }
}

impl BitOr for EventMask {
    type Output = EventMask;
    fn bitor(self, rhs: EventMask) -> EventMask {
        EventMask(self.0 | rhs.0)
    }
}

impl BitOr<Event> for EventMask {
    type Output = EventMask;
    fn bitor(self, rhs: Event) -> EventMask {
        self.with(rhs)
    }
}

impl BitAnd for EventMask {
    type Output = EventMask;
    fn bitand(self, rhs: EventMask) -> EventMask {
        EventMask(self.0 & rhs.0)
    }
}

impl Sub for EventMask {
    type Output = EventMask;
    fn sub(self, rhs: EventMask) -> EventMask {
        EventMask(self.0 & !rhs.0)
    }
}

impl fmt::Display for EventMask {
    /// `RunPodSandbox|StartContainer`; bits that name no event are shown as
    /// a hex remainder, the empty mask as `(none)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: EventMask = self.iter().collect();
        let unknown = self.0 & !known.0;
        let mut first = true;
        for event in self.iter() {
            if !first {
                f.write_str("|")?;
            }
            first = false;
            f.write_str(event.name())?;
        }
        if unknown != 0 {
            if !first {
                f.write_str("|")?;
            }
            first = false;
            write!(f, "{unknown:#x}")?;
        }
        if first {
            f.write_str("(none)")?;
        }
        Ok(())
    }
}

impl fmt::Debug for EventMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventMask({:#x}: {self})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_follow_the_wire_values() {
        assert_eq!(Event::RunPodSandbox.bit(), 0x1);
        assert_eq!(Event::RemoveContainer.bit(), 0x400);
        assert_eq!(Event::ValidateContainerAdjustment.bit(), 0x2000);
        for event in Event::ALL {
            assert_eq!(event.bit(), 1 << (event.value() - 1));
            assert_eq!(Event::from_value(event.value()), Some(event));
            assert_eq!(event.to_proto() as i32, event.value());
        }
        assert_eq!(Event::from_value(0), None);
        assert_eq!(Event::from_value(15), None);
    }

    #[test]
    fn named_masks() {
        let classic: EventMask = Event::ALL[..11].iter().copied().collect();
        assert_eq!(classic, EventMask::NRI_V0_8);
        let all: EventMask = Event::ALL.into_iter().collect();
        assert_eq!(all, EventMask::NRI_V0_10);
        assert_eq!(
            EventMask::NRI_V0_10 - EventMask::SERVED_BY_STUB,
            Event::ValidateContainerAdjustment.into()
        );
    }

    #[test]
    fn runtime_acceptance_by_version() {
        assert_eq!(EventMask::accepted_by_runtime(""), EventMask::NRI_V0_8);
        assert_eq!(
            EventMask::accepted_by_runtime("garbage"),
            EventMask::NRI_V0_8
        );
        assert_eq!(
            EventMask::accepted_by_runtime("v0.8.0"),
            EventMask::NRI_V0_8
        );
        assert_eq!(
            EventMask::accepted_by_runtime("v0.12.2"),
            EventMask::NRI_V0_10
        );
        assert_eq!(
            EventMask::accepted_by_runtime("0.10.0-rc.1"),
            EventMask::NRI_V0_10
        );
        assert_eq!(
            EventMask::accepted_by_runtime("v1.0.0"),
            EventMask::NRI_V0_10
        );
    }

    #[test]
    fn display_lists_names_and_unknown_bits() {
        let mask = EventMask::EMPTY | Event::RunPodSandbox | Event::StartContainer;
        assert_eq!(mask.to_string(), "RunPodSandbox|StartContainer");
        assert_eq!(
            EventMask::from_bits(0x8001).to_string(),
            "RunPodSandbox|0x8000"
        );
        assert_eq!(EventMask::EMPTY.to_string(), "(none)");
    }
}
