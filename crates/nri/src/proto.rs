//! Protobuf messages and ttrpc services generated from `proto/nri.proto`.
//!
//! [`nri`] holds the messages and enums, [`nri_ttrpc`] the async ttrpc
//! client and server bindings for the `Runtime` and `Plugin` services.

include!(concat!(env!("OUT_DIR"), "/generated_modules.rs"));
