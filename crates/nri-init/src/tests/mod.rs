//! The crate's tests that span modules: golden fixtures (real `containerd config default`
//! output of 1.7 and 2.1, and hand-written families), whole runs in scratch directories,
//! and the property that an edit keeps every byte outside NRI's table.

mod golden;
mod property;
mod run;
