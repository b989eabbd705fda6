//! Running plans: the [`Executor`] steps through a plan, [`child`] runs one program as a
//! step, and [`interrupt`] turns Ctrl-C into an orderly stop.

pub mod child;
mod executor;
pub mod interrupt;

pub use executor::Executor;
pub use interrupt::Interrupt;
