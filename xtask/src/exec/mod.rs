//! Running plans: the [`Executor`] steps through a plan, [`child`] runs one program as a
//! step, [`interrupt`] turns Ctrl-C into an orderly stop, and [`leftovers`] finds what a
//! program left running.

pub mod child;
mod executor;
pub mod interrupt;
pub mod leftovers;

pub use executor::Executor;
pub use interrupt::Interrupt;
