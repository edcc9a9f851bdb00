//! The shape every small aggregate here follows: folded state, `decide` (command → events,
//! or a refusal) and `apply_event`. The store appends the events and the folded state in one
//! transaction, with the stream sequence as optimistic lock (`store::aggregates`).

use cqrs_es::DomainEvent;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A decide/evolve aggregate.
pub trait Decider: Default + Serialize + DeserializeOwned + Send + Sync {
    /// Commands.
    type Command: Send + Clone;
    /// Events.
    type Event: DomainEvent + Serialize + DeserializeOwned + Clone + Send + Sync;
    /// Refusals (shown to the user).
    type Refusal: std::error::Error + Send + Sync + 'static;
    /// The aggregate type name in the event log.
    const TYPE: &'static str;

    /// What happens if `cmd` is applied now. No IO: time comes inside the command.
    fn decide(&self, cmd: Self::Command) -> Result<Vec<Self::Event>, Self::Refusal>;
    /// Folds one event.
    fn apply_event(&mut self, event: &Self::Event);
}
