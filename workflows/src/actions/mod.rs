//! One module per sync action.

pub mod demo_engine;
pub mod import_orders;
pub mod update_orders;
