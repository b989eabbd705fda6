//! Tests of the parent module.
use super::*;
