//! Pictures and tables that summarise a run.

pub mod plot;
