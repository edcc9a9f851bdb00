//! One module per sync action.

pub mod demo_engine;
